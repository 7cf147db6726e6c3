"""Delivery receipts (RFC 8030 §5.1, §6.3) end to end: a paho-mqtt device, pywebpush-style pushes
with `Prefer: respond-async` and the receipt Link, and two kinds of application server reading
receipts: one built on the `h2` library, which receives the RFC's HTTP/2 server pushes
(PUSH_PROMISE for a GET of the message URL, answered 204 or 410), and an ordinary client reading
server-sent events."""
import json
import socket
import threading
import time

import h2.config
import h2.connection
import h2.events
import httpx

from harness import Device, Server, vapid_keys


class H2ReceiptReader:
    """An application server on the `h2` library: GET <receipt subscription> over h2c, collecting
    every PUSH_PROMISE and the status of its pushed response."""

    def __init__(self, port: int, path: str):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.conn.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"), (":path", path)],
                               end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        self.promised = {}
        self.receipts = []          # (message path, status)
        self.final_status = None

    def read(self, count: int, timeout: float = 5) -> list:
        deadline = time.time() + timeout
        while len(self.receipts) < count and time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                break
            if not data:
                break
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.PushedStreamReceived):
                    headers = dict(event.headers)
                    assert headers[":method"] == "GET"
                    self.promised[event.pushed_stream_id] = headers[":path"]
                elif isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[":status"])
                    if event.stream_id in self.promised:
                        self.receipts.append((self.promised[event.stream_id], status))
                    elif event.stream_id == 1:
                        self.final_status = status
            self.sock.sendall(self.conn.data_to_send())
        return list(self.receipts)

    def close(self):
        self.sock.close()


class SSEReader:
    """An ordinary HTTP client reading the same receipts as server-sent events."""

    def __init__(self, url: str):
        self.events = []
        self.lock = threading.Condition()
        self.client = httpx.Client(timeout=None)
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()
        assert self.opened.wait(5)

    def _run(self, url):
        try:
            with self.client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
                assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
                self.opened.set()
                event = {}
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line.startswith("event: "):
                        event["event"] = line[7:]
                    elif line == "" and event:
                        with self.lock:
                            self.events.append(event)
                            self.lock.notify_all()
                        event = {}
        except httpx.HTTPError:
            pass

    def wait(self, count: int, timeout: float = 5) -> list:
        with self.lock:
            self.lock.wait_for(lambda: len(self.events) >= count, timeout=timeout)
            return list(self.events)

    def close(self):
        self.client.close()


def receipt_subscription(server) -> str:
    vapid, _ = vapid_keys()
    response = httpx.post(f"{server.url}/receipts", headers={"Authorization": vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]})
    assert response.status_code == 201, response.text
    return response.headers["location"]


def push(sub, receipts: str, ttl: int = 60):
    response = httpx.post(sub["endpoint"], headers={"TTL": str(ttl), "Prefer": "respond-async",
                                                    "Link": f'<{receipts}>; rel="urn:ietf:params:push:receipt"'})
    assert response.status_code == 202, response.text
    assert response.headers["link"] == f'<{receipts}>; rel="urn:ietf:params:push:receipt"'
    return response.headers["location"]


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_h2_server_push_receipt_after_mqtt_acknowledgement(server, broker):
    """P-36..P-38, P-58, P-59: 202 + Location + receipt Link; the device acknowledges over MQTT;
    the application server's open GET receives a PUSH_PROMISE for GET <message URL>, answered 204."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    receipts = receipt_subscription(server)
    reader = H2ReceiptReader(server.port, path_of(receipts))
    location = push(sub, receipts)
    [message] = device.wait_messages(1)
    assert reader.read(1, timeout=0.5) == []          # nothing before the acknowledgement
    device.acknowledge(message)
    assert reader.read(1) == [(path_of(location), 204)]
    reader.close()
    device.disconnect()


def test_sse_receipt_after_delete_acknowledgement(server, broker):
    """The same receipt for an ordinary client (server-sent events), with DELETE on the message
    resource as the acknowledgement (RFC 8030 §6.2)."""
    sub = server.subscribe()
    receipts = receipt_subscription(server)
    reader = SSEReader(receipts)
    location = push(sub, receipts)
    assert httpx.delete(location).status_code == 204
    [event] = reader.wait(1)
    assert event["event"] == "receipt" and event["data"] == {"message": location, "status": 204}
    reader.close()


def test_receipt_waits_for_a_disconnected_application_server_and_a_restart(pushgate_bin, tmp_path, broker):
    """The application server is away when the device acknowledges, and Pushgate restarts before
    it comes back: the receipt is delivered when it does."""
    server = Server(pushgate_bin, tmp_path, broker)
    try:
        sub = server.subscribe()
        device = Device(broker, sub["mqtt_topic"]).connect()
        receipts = receipt_subscription(server)
        location = push(sub, receipts)
        [message] = device.wait_messages(1)
        device.acknowledge(message)
        time.sleep(0.3)
        server.stop()
        server.start()
        server.wait_ready()
        reader = H2ReceiptReader(server.port, path_of(receipts))
        assert reader.read(1) == [(path_of(location), 204)]
        reader.close()
        time.sleep(0.3)       # it is forgotten once written (at-least-once: a reader at that very instant may see it twice)
        # Collected: a second reader gets nothing.
        again = H2ReceiptReader(server.port, path_of(receipts))
        assert again.read(1, timeout=0.7) == []
        again.close()
        device.disconnect()
    finally:
        server.stop()


def test_expired_unacknowledged_message_gets_410_never_204(server, broker):
    """P-60: the TTL passes before any acknowledgement: a 410 receipt, and a late acknowledgement
    does not turn it into a 204. A device that never acknowledges gives no receipt while the TTL
    runs."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    receipts = receipt_subscription(server)
    reader = SSEReader(receipts)
    expiring = push(sub, receipts, ttl=1)
    waiting = push(sub, receipts, ttl=60)
    [first, _] = device.wait_messages(2)
    events = reader.wait(1, timeout=4)
    assert [e["data"] for e in events] == [{"message": expiring, "status": 410}]
    device.acknowledge(first)
    time.sleep(0.5)
    assert [e["data"] for e in reader.wait(2, timeout=0.5)] == [{"message": expiring, "status": 410}]
    assert waiting not in json.dumps(reader.events)
    reader.close()
    device.disconnect()


def test_list_push_receipts_one_per_member_copy(server, broker):
    """Receipts for a list push: one per member's copy, naming the copy (its own message id)."""
    vapid, _ = vapid_keys()
    auth = {"Authorization": vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]}
    subs = [server.subscribe() for _ in range(2)]
    devices = [Device(broker, sub["mqtt_topic"]).connect() for sub in subs]
    created = httpx.post(f"{server.url}/lists", headers={**auth, "Content-Type": "application/push-aggregation+json"},
                         content=json.dumps({sub["endpoint"]: {} for sub in subs}))
    receipts = receipt_subscription(server)
    reader = SSEReader(receipts)
    pushed = httpx.post(created.json()["endpoint"], headers={**auth, "TTL": "60", "Prefer": "respond-async",
                                                             "Link": f'<{receipts}>; rel="urn:ietf:params:push:receipt"'})
    assert pushed.status_code == 202
    ids = []
    for device in devices:
        [message] = device.wait_messages(1)
        ids.append(message["user"]["message-id"])
        device.acknowledge(message)
    events = reader.wait(2)
    assert sorted(e["data"]["message"].rsplit("/", 1)[1] for e in events) == sorted(ids)
    assert all(e["data"]["status"] == 204 for e in events)
    reader.close()
    for device in devices:
        device.disconnect()


def test_delete_receipt_subscription_ends_it(server, broker):
    """P-62, P-61: DELETE ends the receipt subscription; the open GET is answered 404; pushes
    naming it are refused."""
    sub = server.subscribe()
    receipts = receipt_subscription(server)
    reader = H2ReceiptReader(server.port, path_of(receipts))
    reader.read(1, timeout=0.3)
    assert httpx.delete(receipts).status_code == 204
    reader.read(1, timeout=1)
    assert reader.final_status == 404
    reader.close()
    refused = httpx.post(sub["endpoint"], headers={"TTL": "60", "Prefer": "respond-async", "Link": f'<{receipts}>; rel="urn:ietf:params:push:receipt"'})
    assert refused.status_code == 400 and refused.json()["errno"] == 112
