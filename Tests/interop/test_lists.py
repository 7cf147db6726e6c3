"""Multi-device lists end to end: the real server and broker; application server side with
py-vapid and http-ece (group key wrapped per member with RFC 8291, the list message under the
group key with RFC 8188); devices with paho-mqtt and http-ece."""
import base64
import gzip
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone

import http_ece
import httpx
import paho.mqtt.client as mqtt
import py_vapid
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Device, Server, b64url, create_subscriptions

AGG = {"Content-Type": "application/push-aggregation+json"}
PATCH = {"Content-Type": "application/merge-patch+json"}


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Creator:
    """An application server with a VAPID key that creates and drives lists."""

    def __init__(self, server):
        self.server = server
        self.vapid = py_vapid.Vapid02()
        self.vapid.generate_keys()

    def auth(self) -> dict:
        return {"Authorization": self.vapid.sign({"aud": self.server.url, "sub": "mailto:ops@example.com"})["Authorization"]}

    def create(self, document: dict, **kwargs):
        return httpx.post(f"{self.server.url}/lists", content=json.dumps(document), headers={**AGG, **self.auth()}, **kwargs)

    def get(self, list_url):
        return httpx.get(list_url, headers=self.auth())

    def patch(self, list_url, patch: dict):
        return httpx.patch(list_url, content=json.dumps(patch), headers={**PATCH, **self.auth()})

    def push(self, endpoint, body=b"", timeout=10, **headers):
        extra = {"Content-Encoding": "aes128gcm"} if body else {}
        return httpx.post(endpoint, content=body, headers={"TTL": "60", **extra, **headers, **self.auth()}, timeout=timeout)


def wrap(group_key: bytes, device: Device) -> str:
    """The member's encrypted_key: the group key encrypted for it with RFC 8291."""
    sender = ec.generate_private_key(ec.SECP256R1())
    return b64url(http_ece.encrypt(group_key, salt=os.urandom(16), private_key=sender, dh=unb64(device.p256dh),
                                   auth_secret=device.auth, version="aes128gcm"))


def devices(server, broker, count):
    result = []
    for _ in range(count):
        sub = server.subscribe()
        device = Device(broker, sub["mqtt_topic"]).connect()
        device.sub = sub
        result.append(device)
    return result


def test_list_fan_out_with_group_key(server, broker):
    """Three devices, one push: the same ciphertext reaches each with its own encrypted_key,
    which unwraps the group key that decrypts the message (end to end with http-ece)."""
    creator = Creator(server)
    members = devices(server, broker, 3)
    assert 'rel="urn:ietf:params:push:multi"' in " ".join(members[0].sub["links"])
    group_key = os.urandom(16)
    document = {d.sub["endpoint"]: {"encrypted_key": wrap(group_key, d)} for d in members}
    created = creator.create(document)
    assert created.status_code == 201, created.text
    list_url, endpoint = created.headers["location"], created.json()["endpoint"]
    assert list_url.startswith(f"{server.url}/l/") and endpoint.startswith(f"{server.url}/lp/")
    assert f'<{endpoint}>; rel="urn:ietf:params:push"' == created.headers["link"]

    body = http_ece.encrypt(b"all lights off", salt=os.urandom(16), key=group_key, keyid="g1", version="aes128gcm")
    pushed = creator.push(endpoint, body, Urgency="high")
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["pushgate-recipients"] == "3"
    for device in members:
        [message] = device.wait_messages(1)
        assert message["payload"] == body
        assert message["topic"].endswith("/high")
        encrypted_key = message["user"]["encrypted-key"]
        assert encrypted_key == document[device.sub["endpoint"]]["encrypted_key"]
        unwrapped = http_ece.decrypt(unb64(encrypted_key), private_key=device.private_key, auth_secret=device.auth, version="aes128gcm")
        assert unwrapped == group_key
        assert http_ece.decrypt(message["payload"], key=unwrapped, version="aes128gcm") == b"all lights off"
        device.disconnect()


def test_large_list_every_member_once(server, broker):
    """300 members, more than one chunk of the batch path (64 copies a chunk, 4 in flight): each
    member's topic gets the push exactly once, under its own message id and acknowledgement topic,
    and only the member with an encrypted_key gets one; 201 once the broker has all 300."""
    creator = Creator(server)
    keyed = devices(server, broker, 1)[0]
    server.stop()                                    # 300 subscribes in bulk (a subscribe is rate limited)
    subs = [{"endpoint": f"{server.url}/p/{token}", "mqtt_topic": f"webpush/{topic}/+"}
            for token, topic in create_subscriptions(server.binary, server.config, 300)]
    server.start()
    subs.append(keyed.sub)
    key = wrap(os.urandom(16), keyed)
    listener = Device(broker, "webpush/#").connect()
    created = creator.create({sub["endpoint"]: ({"encrypted_key": key} if sub is keyed.sub else {}) for sub in subs})
    assert created.status_code == 201, created.text
    body = os.urandom(3000)
    pushed = creator.push(created.json()["endpoint"], body)
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["pushgate-recipients"] == "301"
    bases = {sub["mqtt_topic"].rsplit("/", 1)[0]: sub for sub in subs}
    deadline = time.time() + 10
    while time.time() < deadline:
        got = [m for m in listener.wait_messages(0) if m["topic"].rsplit("/", 1)[0] in bases]
        if len(got) >= 301:
            break
        time.sleep(0.05)
    time.sleep(0.3)                                  # anything more would be a duplicate
    got = [m for m in listener.wait_messages(0) if m["topic"].rsplit("/", 1)[0] in bases]
    assert len(got) == 301
    assert {m["topic"].rsplit("/", 1)[0] for m in got} == set(bases)
    assert len({m["user"]["message-id"] for m in got}) == 301
    assert len({m["response_topic"] for m in got}) == 301
    assert all(m["payload"] == body for m in got)
    with_key = [m for m in got if "encrypted-key" in m["user"]]
    assert len(with_key) == 1 and with_key[0]["user"]["encrypted-key"] == key
    assert with_key[0]["topic"].rsplit("/", 1)[0] == keyed.sub["mqtt_topic"].rsplit("/", 1)[0]
    listener.disconnect()
    keyed.disconnect()


def test_read_amend_expire_delete(server, broker):
    creator = Creator(server)
    a, b, c, d = devices(server, broker, 4)
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = creator.create({a.sub["endpoint"]: {}, b.sub["endpoint"]: {}, c.sub["endpoint"]: {"expires": soon}})
    list_url, endpoint = created.headers["location"], created.json()["endpoint"]

    listed = creator.get(list_url)
    assert listed.status_code == 200 and listed.headers["content-type"] == "application/push-aggregation+json"
    assert set(listed.json()) == {a.sub["endpoint"], b.sub["endpoint"], c.sub["endpoint"]}
    assert listed.json()[c.sub["endpoint"]]["expires"] == soon

    # Only the creator's key may read, change or push.
    stranger = Creator(server)
    assert stranger.get(list_url).status_code == 403 and stranger.get(list_url).json()["errno"] == 147
    assert httpx.get(list_url).status_code == 401
    assert stranger.push(endpoint).status_code == 403

    # Merge patch: remove b, add d.
    patched = creator.patch(list_url, {b.sub["endpoint"]: None, d.sub["endpoint"]: {}})
    assert patched.status_code == 200, patched.text
    assert set(patched.json()) == {a.sub["endpoint"], c.sub["endpoint"], d.sub["endpoint"]}
    assert creator.push(endpoint).headers["pushgate-recipients"] == "3"
    for device, expected in ((a, 1), (b, 0), (c, 1), (d, 1)):
        time.sleep(0.05)
        assert len(device.wait_messages(expected, timeout=3)) == expected

    # c expires by itself.
    time.sleep(2.5)
    assert set(creator.get(list_url).json()) == {a.sub["endpoint"], d.sub["endpoint"]}
    assert creator.push(endpoint).headers["pushgate-recipients"] == "2"

    # Deleting a member's subscription removes it from the list.
    assert httpx.delete(d.sub["location"]).status_code == 204
    assert set(creator.get(list_url).json()) == {a.sub["endpoint"]}
    assert creator.push(endpoint).headers["pushgate-recipients"] == "1"
    time.sleep(0.3)
    assert (len(a.messages), len(b.messages), len(c.messages), len(d.messages)) == (3, 0, 1, 2)

    # Delete the list.
    assert httpx.delete(list_url, headers=creator.auth()).status_code == 204
    assert creator.push(endpoint).status_code == 404
    assert creator.get(list_url).status_code == 404
    for device in (a, b, c, d):
        device.disconnect()


def test_lists_survive_restart(server, broker):
    creator = Creator(server)
    a, b = devices(server, broker, 2)
    created = creator.create({a.sub["endpoint"]: {"encrypted_key": wrap(os.urandom(16), a)}, b.sub["endpoint"]: {}})
    list_url, endpoint = created.headers["location"], created.json()["endpoint"]
    # The member's deletion and its leaving the list are one store write: after a restart
    # b is neither a subscription nor a member.
    assert httpx.delete(b.sub["location"]).status_code == 204
    b.disconnect()
    server.stop()
    server.start()
    server.wait_ready()
    assert set(creator.get(list_url).json()) == {a.sub["endpoint"]}
    assert creator.push(endpoint).headers["pushgate-recipients"] == "1"
    [message] = a.wait_messages(1)
    assert "encrypted-key" in message["user"]
    a.disconnect()


def test_gzip_documents(server, broker):
    """The draft's MUST: Content-Encoding: gzip is accepted for list documents."""
    creator = Creator(server)
    a, b = devices(server, broker, 2)
    body = gzip.compress(json.dumps({a.sub["endpoint"]: {}}).encode())
    created = httpx.post(f"{server.url}/lists", content=body, headers={**AGG, "Content-Encoding": "gzip", **creator.auth()})
    assert created.status_code == 201, created.text
    list_url = created.headers["location"]
    patch = gzip.compress(json.dumps({b.sub["endpoint"]: {}}).encode())
    patched = httpx.patch(list_url, content=patch, headers={**PATCH, "Content-Encoding": "gzip", **creator.auth()})
    assert patched.status_code == 200 and set(patched.json()) == {a.sub["endpoint"], b.sub["endpoint"]}
    bad = httpx.post(f"{server.url}/lists", content=b"not gzip", headers={**AGG, "Content-Encoding": "gzip", **creator.auth()})
    assert bad.status_code == 400 and bad.json()["errno"] == 140
    a.disconnect()
    b.disconnect()


def test_malformed_documents_change_nothing(server, broker):
    creator = Creator(server)
    [a] = devices(server, broker, 1)
    created = creator.create({a.sub["endpoint"]: {}})
    list_url = created.headers["location"]
    foreign = "https://elsewhere.example/p/AAAAAAAAAAAAAAAAAAAAAA"
    cases = [
        (dict(content="not json", headers={**AGG, **creator.auth()}), 400, 140),
        (dict(content="[1, 2]", headers={**AGG, **creator.auth()}), 400, 140),
        (dict(content=json.dumps({a.sub["endpoint"]: "x"}), headers={**AGG, **creator.auth()}), 400, 140),
        (dict(content=json.dumps({a.sub["endpoint"]: {"expires": "tomorrow"}}), headers={**AGG, **creator.auth()}), 400, 140),
        (dict(content=json.dumps({a.sub["endpoint"]: {"encrypted_key": "!!"}}), headers={**AGG, **creator.auth()}), 400, 140),
        (dict(content=json.dumps({foreign: {}}), headers={**AGG, **creator.auth()}), 400, 141),
        (dict(content=json.dumps({a.sub["endpoint"]: {}}), headers={"Content-Type": "application/json", **creator.auth()}), 415, 142),
        (dict(content=json.dumps({a.sub["endpoint"]: {}}), headers=AGG), 401, 109),
    ]
    for request, status, errno in cases:
        response = httpx.post(f"{server.url}/lists", **request)
        assert response.status_code == status and response.json()["errno"] == errno, response.text
    named = httpx.post(f"{server.url}/lists", content=json.dumps({foreign: {}}), headers={**AGG, **creator.auth()})
    assert named.json()["members"] == [foreign]
    for patch in ({a.sub["endpoint"]: "x"}, {foreign: {}}, {a.sub["endpoint"]: {"expires": 5}}):
        response = creator.patch(list_url, patch)
        assert response.status_code == 400, response.text
    assert creator.get(list_url).json() == {a.sub["endpoint"]: {}}
    a.disconnect()


def test_caps_and_rate_limit(pushgate_bin, tmp_path, broker):
    server = Server(pushgate_bin, tmp_path, broker, extra=(
        "lists:\n  max_members: 2\n  max_lists_per_key: 1\n  max_deliveries_per_second_per_key: 3\n"))
    try:
        creator = Creator(server)
        subs = [server.subscribe() for _ in range(3)]
        too_many = creator.create({s["endpoint"]: {} for s in subs})
        assert too_many.status_code == 400 and too_many.json()["errno"] == 144
        created = creator.create({s["endpoint"]: {} for s in subs[:2]})
        assert created.status_code == 201
        second = creator.create({subs[2]["endpoint"]: {}})
        assert second.status_code == 403 and second.json()["errno"] == 145
        grow = creator.patch(created.headers["location"], {subs[2]["endpoint"]: {}})
        assert grow.status_code == 400 and grow.json()["errno"] == 144
        endpoint = created.json()["endpoint"]
        assert creator.push(endpoint).status_code == 201           # 2 of 3 deliveries this second
        limited = creator.push(endpoint)
        assert limited.status_code == 429 and limited.json()["errno"] == 146
        assert int(limited.headers["retry-after"]) >= 1
        time.sleep(1.1)
        assert creator.push(endpoint).status_code == 201
    finally:
        server.stop()


def test_ten_thousand_members(pushgate_bin, tmp_path, broker):
    """A list of 10,000 members fans out completely. The subscriptions are created in bulk with
    `pushgate admin create-subscriptions` (10,000 HTTP subscribes with a durable write each would
    dominate the test), then loaded by the server like any others."""
    server = Server(pushgate_bin, tmp_path, broker)
    server.stop()
    tokens = [token for token, _ in create_subscriptions(pushgate_bin, server.config, 10_000)]
    server.start()
    server.wait_ready()
    try:
        received = 0
        lock = threading.Lock()
        done = threading.Event()

        def on_message(client, userdata, message):
            nonlocal received
            with lock:
                received += 1
                if received == 10_000:
                    done.set()

        counter = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-counter", protocol=mqtt.MQTTv5)
        counter.on_message = on_message
        subscribed = threading.Event()
        counter.on_subscribe = lambda *args: subscribed.set()
        counter.connect("127.0.0.1", broker.port)
        counter.loop_start()
        counter.subscribe("webpush/#", qos=1)
        assert subscribed.wait(5)

        creator = Creator(server)
        document = {f"{server.url}/p/{t}": {} for t in tokens}
        created = creator.create(document)
        assert created.status_code == 201, created.text
        assert created.json()["members"] == 10_000
        started = time.time()
        pushed = creator.push(created.json()["endpoint"], timeout=60)
        elapsed = time.time() - started
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["pushgate-recipients"] == "10000"
        assert done.wait(30), f"only {received} of 10000 delivered"
        time.sleep(0.3)
        assert received == 10_000
        print(f"\n10,000-member fan-out acknowledged by the broker in {elapsed:.2f} s ({10_000 / elapsed:.0f} deliveries/s)")
        counter.disconnect()
        counter.loop_stop()
    finally:
        server.stop()
