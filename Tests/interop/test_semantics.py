"""Delivery semantics against the real server and a real mosquitto, each row of docs/mqtt.md
looked at from the device: Topic replacement (held by Pushgate, never the broker's retained
messages), TTL after it has passed and across a restart, message resources, subscription sets
with two pywebpush applications on one device filter, links that cannot be honoured."""
import json
import re
import time

import httpx
from pywebpush import WebPusher, webpush

from harness import Device, Server, vapid_keys


def body_for(device, endpoint, data: bytes) -> bytes:
    return WebPusher(device.subscription_info(endpoint)).encode(data, content_encoding="aes128gcm")["body"]


def push_topic(sub, body: bytes, topic: str, ttl: int = 300, urgency: str = "normal"):
    response = httpx.post(sub["endpoint"], content=body,
                          headers={"TTL": str(ttl), "Topic": topic, "Urgency": urgency, "Content-Encoding": "aes128gcm"})
    assert response.status_code == 201, response.text
    return response


def settle(device, seconds=0.5) -> list:
    time.sleep(seconds)
    with device.lock:
        return list(device.messages)


def test_topic_replacement_without_retained_messages(server, broker):
    """P-32..P-35: two messages with one Topic while the device is away: on "ready" it gets only
    the newer one, on its normal topic, not retained, without the Topic value; after it
    acknowledges, nothing more — and no empty message ever (issue 11 defects 3, 4, 10)."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"])
    push_topic(sub, body_for(device, sub["endpoint"], b"door open"), "door-state", urgency="low")
    push_topic(sub, body_for(device, sub["endpoint"], b"door closed"), "door-state", urgency="high")

    device.connect()
    assert settle(device, 0.3) == []                        # nothing retained at the broker
    device.ready(sub["mqtt_ack_topic"])
    [message] = device.wait_messages(1)
    assert settle(device) == [message]
    assert device.decrypt(message["payload"]) == b"door closed"
    assert message["topic"] == sub["mqtt_topic"].replace("#", "high")   # the replacement's urgency
    assert message["qos"] == 0 and message["expiry"] <= 300
    assert "door-state" not in json.dumps(message["user"]) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", message["user"]["accepted-at"])
    device.acknowledge(message)
    time.sleep(0.3)
    device.ready(sub["mqtt_ack_topic"])                      # acknowledged: not sent again
    assert settle(device) == [message]
    assert all(m["payload"] for m in device.messages)
    device.disconnect()


def test_empty_topic_message_does_not_delete(server, broker):
    """An empty push with a Topic is a message (P-20): it replaces, and reaches the device as an
    empty message that an application server sent."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"])
    push_topic(sub, body_for(device, sub["endpoint"], b"first"), "t")
    assert httpx.post(sub["endpoint"], headers={"TTL": "300", "Topic": "t"}).status_code == 201
    device.connect()
    device.ready(sub["mqtt_ack_topic"])
    [message] = device.wait_messages(1)
    assert settle(device) == [message] and message["payload"] == b"" and message["user"]["message-id"]


def test_ttl_zero_topic_is_never_stored(server, broker):
    """Defect 1: TTL 0 with a Topic reaches a connected device now and nobody later."""
    sub = server.subscribe()
    online = Device(broker, sub["mqtt_topic"]).connect()
    push_topic(sub, body_for(online, sub["endpoint"], b"now"), "t", ttl=0)
    [message] = online.wait_messages(1)
    assert message["expiry"] is None and message["qos"] == 0
    online.disconnect()
    later = Device(broker, sub["mqtt_topic"]).connect()
    later.ready(sub["mqtt_ack_topic"])
    assert settle(later) == []
    later.disconnect()


def test_held_message_survives_restart_and_expires(pushgate_bin, tmp_path, broker):
    """Defect 9: replacement survives a restart — a message replaced after the restart (at
    another urgency) is not delivered beside its replacement; a held message survives and is
    sent on "ready"; once its TTL has passed it is never sent."""
    server = Server(pushgate_bin, tmp_path, broker)
    try:
        sub = server.subscribe()
        device = Device(broker, sub["mqtt_topic"])
        push_topic(sub, body_for(device, sub["endpoint"], b"old door"), "door", urgency="low")
        push_topic(sub, body_for(device, sub["endpoint"], b"kept"), "k", ttl=300)
        push_topic(sub, body_for(device, sub["endpoint"], b"short"), "s", ttl=2)
        server.stop()
        time.sleep(2.5)
        server.start()
        server.wait_ready()
        push_topic(sub, body_for(device, sub["endpoint"], b"new door"), "door", urgency="high")
        device.connect()
        device.ready(sub["mqtt_ack_topic"])
        device.wait_messages(2)
        payloads = sorted(device.decrypt(m["payload"]) for m in settle(device))
        assert payloads == [b"kept", b"new door"]
        device.disconnect()
    finally:
        server.stop()


def test_list_copies_have_their_own_ids(server, broker):
    """Defect 5 (RFC 8030 §8.2): two members of one list receive one push with different
    message ids, neither the one the application server got as Location."""
    vapid, _ = vapid_keys()
    subs = [server.subscribe() for _ in range(2)]
    devices = [Device(broker, sub["mqtt_topic"]).connect() for sub in subs]
    auth = {"Authorization": vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]}
    created = httpx.post(f"{server.url}/lists", headers={**auth, "Content-Type": "application/push-aggregation+json"},
                         content=json.dumps({sub["endpoint"]: {} for sub in subs}))
    assert created.status_code == 201, created.text
    pushed = httpx.post(created.json()["endpoint"], headers={**auth, "TTL": "60"})
    assert pushed.status_code == 201
    ids = [device.wait_messages(1)[0]["user"]["message-id"] for device in devices]
    assert len(set(ids)) == 2 and not any(pushed.headers["location"].endswith(i) for i in ids)
    for device in devices:
        device.disconnect()


def test_message_resource_delete_acknowledges(server, broker):
    """Defect 6 / RFC 8030 §6.2: DELETE on the Location is the acknowledgement: 204, then 410;
    a held Topic message is then no longer sent; an unknown message is 404."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"])
    response = push_topic(sub, body_for(device, sub["endpoint"], b"x"), "t")
    location = response.headers["location"]
    assert httpx.delete(location).status_code == 204
    gone = httpx.delete(location)
    assert gone.status_code == 410 and gone.json()["errno"] == 125
    assert httpx.delete(location[:-4] + "AAAA").status_code == 404
    device.connect()
    device.ready(sub["mqtt_ack_topic"])
    assert settle(device) == []
    device.disconnect()


def test_subscription_set_two_applications_one_filter(server, broker):
    """RFC 8030 §4.1: a device subscribes for two applications in one set; one MQTT
    subscription to the set filter, one connection, receives both pywebpush senders' messages,
    each decryptable with its own keys; narrowing by urgency still works under the set; deleting
    the set ends both."""
    first = server.subscribe()
    second_response = httpx.post(f"{server.url}/subscribe", headers={"Link": f'<{first["set"]}>; rel="urn:ietf:params:push:set"'})
    assert second_response.status_code == 201
    second = second_response.json()
    assert second["set"] == first["set"] and second["mqtt_set_topic"] == first["mqtt_set_topic"]

    device = Device(broker, first["mqtt_set_topic"]).connect()
    high_only = Device(broker, first["mqtt_set_topic"].replace("#", "+/high/#")).connect()
    keys_a, keys_b = Device(broker, ""), Device(broker, "")        # each application's own keys on the device
    for app, (sub, keys, text) in enumerate([(first, keys_a, b"from app A"), (second, keys_b, b"from app B")]):
        vapid, _ = vapid_keys()
        webpush(keys.subscription_info(sub["endpoint"]), text.decode(), vapid_private_key=vapid,
                vapid_claims={"sub": "mailto:ops@example.com"}, ttl=60, headers={"Urgency": "high" if app else "normal"})
    messages = device.wait_messages(2)
    assert len(messages) == 2
    by_subscription = {m["topic"].split("/")[2]: m for m in messages}
    assert keys_a.decrypt(by_subscription[first["mqtt_topic"].split("/")[2]]["payload"]) == b"from app A"
    assert keys_b.decrypt(by_subscription[second["mqtt_topic"].split("/")[2]]["payload"]) == b"from app B"
    high = high_only.wait_messages(1)
    assert settle(high_only) == high and len(high) == 1 and high[0]["topic"].endswith("/high")

    assert httpx.delete(first["set"]).status_code == 204
    assert httpx.post(first["endpoint"], headers={"TTL": "5"}).status_code == 410
    assert httpx.post(second["endpoint"], headers={"TTL": "5"}).status_code == 410
    device.disconnect()
    high_only.disconnect()


def test_set_ready_sends_every_members_held_messages(server, broker):
    """One "ready" on the set's acknowledgement topic sends what is held for every member."""
    first = server.subscribe()
    second = httpx.post(f"{server.url}/subscribe", headers={"Link": f'<{first["set"]}>; rel="urn:ietf:params:push:set"'}).json()
    device = Device(broker, first["mqtt_set_topic"])
    push_topic(first, b"", "a")
    push_topic(second, b"", "b")
    device.connect()
    device.ready(first["mqtt_set_ack_topic"])
    assert len(device.wait_messages(2)) == 2
    device.disconnect()


def test_links_that_cannot_be_honoured_are_refused(server, broker):
    """Defect 7 (P-15, P-39): an unknown set on subscribe, an invalid receipt subscription on a
    push: 400, nothing created, nothing published."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    bad_set = httpx.post(f"{server.url}/subscribe", headers={"Link": f'<{server.url}/set/AAAAAAAAAAAAAAAAAAAAAA>; rel="urn:ietf:params:push:set"'})
    assert bad_set.status_code == 400 and bad_set.json()["errno"] == 113
    bad_receipt = httpx.post(sub["endpoint"], headers={"TTL": "60", "Prefer": "respond-async",
                                                       "Link": f'<{server.url}/rs/AAAAAAAAAAAAAAAAAAAAAA>; rel="urn:ietf:params:push:receipt"'})
    assert bad_receipt.status_code == 400 and bad_receipt.json()["errno"] == 112
    assert settle(device) == []
    device.disconnect()
