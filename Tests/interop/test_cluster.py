"""Several Pushgate instances on one PostgreSQL and one mosquitto (issue 13): real processes, as
an operator runs them behind a load balancer. The instances share one public URL (the load
balancer's, `http://push.cluster.test`); the tests play the load balancer by sending each request
to the instance they choose."""
import json
import re
import threading
import time

import httpx
import pytest

from harness import Device, Postgres, Server, vapid_keys
from test_receipts import SSEReader

PUBLIC = "http://push.cluster.test"


def via(server: Server, url: str) -> str:
    """`url` (on the shared public URL) sent to one instance."""
    return url.replace(PUBLIC, server.url)


@pytest.fixture
def postgres():
    database = Postgres()
    yield database
    database.close()


@pytest.fixture
def started():
    """Every Server a test starts goes in here; all are stopped at teardown, failed test or not."""
    servers = []
    yield servers
    for server in servers:
        if server.process and server.process.poll() is None:
            server.stop()


def cluster(pushgate_bin, tmp_path, broker, postgres, count: int, started: list) -> list[Server]:
    servers = [Server(pushgate_bin, tmp_path, broker, storage=postgres.storage(), client_id=False, public_url=PUBLIC)
               for _ in range(count)]
    started.extend(servers)
    return servers


def vapid_header(vapid) -> dict:
    return {"Authorization": vapid.sign({"aud": PUBLIC, "sub": "mailto:ops@example.com"})["Authorization"]}


def test_three_instances_one_registry(pushgate_bin, tmp_path, broker, postgres, started):
    """Subscribe via A, push via B, the device's acknowledgement handled by whichever instance the
    broker picks (shared subscription), the receipt delivered to the stream open on C; delete via
    A → 410 via B within the documented bound; a list created via B is pushed via C."""
    a, b, c = cluster(pushgate_bin, tmp_path, broker, postgres, 3, started)
    for server in (a, b, c):
        server.wait_ready()
    sub = a.subscribe()
    assert sub["endpoint"].startswith(PUBLIC + "/p/")
    device = Device(broker, sub["mqtt_topic"]).connect()

    vapid, _ = vapid_keys()
    created = httpx.post(via(b, PUBLIC + "/receipts"), headers=vapid_header(vapid))
    assert created.status_code == 201
    receipts = created.headers["location"]
    reader = SSEReader(via(c, receipts))
    pushed = httpx.post(via(b, sub["endpoint"]), headers={"TTL": "60", "Prefer": "respond-async",
                                                          "Link": f'<{receipts}>; rel="urn:ietf:params:push:receipt"'})
    assert pushed.status_code == 202, pushed.text
    [message] = device.wait_messages(1)
    device.acknowledge(message)
    [event] = reader.wait(1)
    assert event["data"]["message"] == pushed.headers["location"] and event["data"]["status"] == 204
    reader.close()

    # A list made through B, pushed through C, reaches the member.
    members = {sub["endpoint"]: {}}
    made = httpx.post(via(b, PUBLIC + "/lists"), content=json.dumps(members),
                      headers={**vapid_header(vapid), "Content-Type": "application/push-aggregation+json"})
    assert made.status_code == 201, made.text
    list_push = made.json()["endpoint"]
    fan = httpx.post(via(c, list_push), headers={**vapid_header(vapid), "TTL": "60"})
    assert fan.status_code == 201 and fan.headers["pushgate-recipients"] == "1"
    assert len(device.wait_messages(2)) == 2

    # Deleted through A: B answers 410 within the bound (1 s; a notification usually does it in ms).
    assert httpx.delete(via(a, sub["location"])).status_code == 204
    deleted = time.monotonic()
    status = httpx.post(via(b, sub["endpoint"]), headers={"TTL": "60"}).status_code
    while status != 410 and time.monotonic() - deleted < 3:
        time.sleep(0.005)
        status = httpx.post(via(b, sub["endpoint"]), headers={"TTL": "60"}).status_code
    assert status == 410
    assert time.monotonic() - deleted < 1.0
    device.disconnect()
    for server in (a, b, c):
        server.stop()


def test_two_instances_without_client_id_coexist_on_one_broker(pushgate_bin, tmp_path, broker, postgres, started):
    """No `mqtt.client_id`: each derives its own, so neither takes the other's session over."""
    a, b = cluster(pushgate_bin, tmp_path, broker, postgres, 2, started)
    a.wait_ready()
    b.wait_ready()
    time.sleep(2)
    for server in (a, b):
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    ids = [re.search(r"client_id=(\S+)", server.log.read_text()).group(1) for server in (a, b)]
    assert ids[0] != ids[1] and all(i.startswith("pushgate-") for i in ids)
    assert "already connected" not in broker.log.read_text()
    for server in (a, b):
        assert server.log.read_text().count("connected to MQTT broker") == 1
        server.stop()


def test_shared_client_id_takeover_backs_off_instead_of_storming(pushgate_bin, tmp_path, broker, started):
    """Two instances given the same `mqtt.client_id`: the broker hands the session to the newer
    one (MQTT 5 reason 0x8E); the evicted one says why and waits instead of taking it back many
    times a second."""
    extra_id = 'client_id: "shared-id"'
    a = Server(pushgate_bin, tmp_path, broker, client_id=False)
    started.append(a)
    a.restart_with_mqtt(extra_id)
    b = Server(pushgate_bin, tmp_path, broker, client_id=False)
    started.append(b)
    b.stop()
    b.config.write_text(b.config.read_text().replace("mqtt:\n", f"mqtt:\n  {extra_id}\n"))
    b.start()
    time.sleep(2)
    first = broker.log.read_text().count("already connected")
    time.sleep(3)
    later = broker.log.read_text().count("already connected") - first
    # Without the backoff (reconnect_max_delay_ms is 200 here) the two evict each other about ten
    # times a second; with it, a few times at first and then once per 30 s each.
    assert first <= 10 and later <= 1, f"{first} takeovers in the first 2 s, {later} in the next 3 s"
    log = a.log.read_text() + b.log.read_text()
    assert "same client id" in log and "mqtt.client_id" in log
    a.stop()
    b.stop()


def test_second_process_on_one_sqlite_file_refuses_and_leaves_the_first_alone(server, broker):
    """A copy started by mistake on the same config: refused on the registry lock, naming
    PostgreSQL, before it binds or touches the broker; the first keeps its session."""
    server.wait_ready()
    copy = server.spawn()
    output, _ = copy.communicate(timeout=20)
    assert copy.returncode != 0
    assert b"in use by another Pushgate process" in output and b"PostgreSQL" in output
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert "already connected" not in broker.log.read_text()
    assert server.log.read_text().count("connected to MQTT broker") == 1


def test_kill_9_during_a_burst_loses_nothing_answered_201(pushgate_bin, tmp_path, broker, postgres, started):
    """Pushes spread over three instances; one is killed -9 in the middle. Every push answered 201
    is delivered (QoS 1); the client's retries of the failed ones through the survivors succeed."""
    servers = cluster(pushgate_bin, tmp_path, broker, postgres, 3, started)
    for server in servers:
        server.wait_ready()
    sub = servers[0].subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    accepted, retried, lock = [], [], threading.Lock()
    victim = servers[1]
    killed = threading.Event()

    def sender(index: int):
        client = httpx.Client(timeout=5)
        for n in range(60):
            if index == 0 and n == 20:
                victim.kill()
                killed.set()
            targets = [s for s in servers if not (killed.is_set() and s is victim)]
            target = targets[(index + n) % len(targets)]
            try:
                response = client.post(via(target, sub["endpoint"]), headers={"TTL": "600"})
            except httpx.HTTPError:
                # The instance died under the request: the client retries through another.
                survivor = next(s for s in servers if s is not victim)
                response = client.post(via(survivor, sub["endpoint"]), headers={"TTL": "600"})
                with lock:
                    retried.append(response.status_code)
            if response.status_code == 201:
                with lock:
                    accepted.append(response.headers["location"].rsplit("/", 1)[1])
            elif response.status_code == 503 and target is victim:
                survivor = next(s for s in servers if s is not victim)
                response = client.post(via(survivor, sub["endpoint"]), headers={"TTL": "600"})
                assert response.status_code == 201
                with lock:
                    retried.append(201)
                    accepted.append(response.headers["location"].rsplit("/", 1)[1])
            else:
                assert response.status_code == 201, response.text

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert killed.is_set() and len(accepted) >= 200
    assert all(status == 201 for status in retried)
    messages = device.wait_messages(len(set(accepted)), timeout=10)
    delivered = {m["user"].get("message-id") for m in messages}
    assert set(accepted) <= delivered, f"{len(set(accepted) - delivered)} answered 201 but not delivered"
    device.disconnect()
    for server in servers:
        server.stop()


def test_postgres_outage_serves_known_subscriptions_and_recovers(pushgate_bin, tmp_path, broker, started):
    """PostgreSQL stopped: pushes to known subscriptions keep working from the cache; subscribes
    get 503 + Retry-After at once and change nothing; /readyz stays 200 and says the database is
    unreachable. PostgreSQL back: writes work again without a restart."""
    database = Postgres(own=True)
    try:
        a, b = [Server(pushgate_bin, tmp_path, broker, storage=database.storage(), client_id=False, public_url=PUBLIC) for _ in range(2)]
        started.extend([a, b])
        a.wait_ready()
        b.wait_ready()
        sub = a.subscribe()
        device = Device(broker, sub["mqtt_topic"]).connect()
        assert httpx.post(via(b, sub["endpoint"]), headers={"TTL": "60"}).status_code == 201
        before = database.psql(database.database, "SELECT count(*) FROM subscriptions")
        database.stop()
        time.sleep(1.5)
        assert httpx.post(via(b, sub["endpoint"]), headers={"TTL": "60"}).status_code == 201
        asked = time.monotonic()
        refused = httpx.post(f"{a.url}/subscribe", timeout=10)
        assert refused.status_code == 503 and "retry-after" in refused.headers, refused.text
        assert time.monotonic() - asked < 2
        assert refused.json()["errno"] == 133
        ready = httpx.get(f"{b.url}/readyz")
        assert ready.status_code == 200 and ready.json()["database"].startswith("unreachable")
        assert len(device.wait_messages(2)) == 2
        database.start()
        deadline = time.time() + 15
        status = 0
        while time.time() < deadline and status != 201:
            time.sleep(0.5)
            status = httpx.post(f"{a.url}/subscribe", timeout=10).status_code
        assert status == 201
        after = database.psql(database.database, "SELECT count(*) FROM subscriptions")
        assert int(after) == int(before) + 1, "the refused subscribe wrote nothing"
        assert httpx.get(f"{b.url}/readyz").json()["database"] == "connected"
        device.disconnect()
        a.stop()
        b.stop()
    finally:
        for server in started:
            server.stop()
        database.close()
