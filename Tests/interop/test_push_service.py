"""The RFC 8030 push service end to end: the real `pushgate serve` and a real mosquitto, with
pywebpush/py-vapid as the application server and paho-mqtt + http-ece as the device.
Requirement IDs (P-xx, V-xx, E-xx) are those of docs/conformance.md."""
import json
import re
import time

import httpx
from pywebpush import WebPusher, webpush
from cryptography.hazmat.primitives import serialization

from harness import Device, Server, vapid_keys

TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")



def vapid_header(vapid, server) -> str:
    return vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]


def encrypted_body(device, endpoint, data: bytes) -> bytes:
    """The exact aes128gcm body pywebpush would send for `data`."""
    return WebPusher(device.subscription_info(endpoint)).encode(data, content_encoding="aes128gcm")["body"]


def test_subscribe_answers_per_rfc8030(server):
    """P-11, P-12, P-04: 201, Location, Link rel=urn:ietf:params:push, unguessable tokens."""
    subs = [server.subscribe() for _ in range(3)]
    for sub in subs:
        assert sub["location"] == sub["subscription"]
        assert sub["location"].startswith(f"{server.url}/s/")
        assert f'<{sub["endpoint"]}>; rel="urn:ietf:params:push"' in sub["links"]
        for url in (sub["location"], sub["endpoint"]):
            assert TOKEN.match(url.rsplit("/", 1)[1])
        assert re.match(r"^webpush/[A-Za-z0-9_-]{22}/[A-Za-z0-9_-]{22}/#$", sub["mqtt_topic"])
        assert sub["mqtt_set_topic"] == "/".join(sub["mqtt_topic"].split("/")[:2]) + "/#"
        assert f'<{sub["set"]}>; rel="urn:ietf:params:push:set"' in sub["links"]
        assert sub["restricted"] is False
    # Nothing in one subscription's URLs or topics relates it to another's (P-05, P-08).
    tokens = [sub[key].rsplit("/", 1)[-1] for sub in subs for key in ("location", "endpoint", "set")]
    tokens += [level for sub in subs for level in sub["mqtt_topic"].split("/")[1:3]]
    assert len(set(tokens)) == len(tokens)


def test_pywebpush_to_paho_http1(server, broker):
    """An application server using pywebpush pushes; the device gets the byte-identical
    ciphertext over MQTT with the documented properties, and http-ece decrypts it."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    vapid, _ = vapid_keys()
    body = encrypted_body(device, sub["endpoint"], b"hello from pywebpush")
    response = httpx.post(sub["endpoint"], content=body, headers={
        "TTL": "120", "Urgency": "high", "Content-Encoding": "aes128gcm", "Authorization": vapid_header(vapid, server)})
    assert response.status_code == 201, response.text
    assert response.headers["ttl"] == "120"
    message_url = response.headers["location"]
    assert TOKEN.match(message_url.rsplit("/", 1)[1])

    [message] = device.wait_messages(1)
    assert message["payload"] == body                      # P-20, E-09: byte for byte
    assert device.decrypt(message["payload"]) == b"hello from pywebpush"
    assert message["topic"] == sub["mqtt_topic"].replace("#", "high")
    assert message["qos"] == 1
    assert 110 <= message["expiry"] <= 120                  # TTL → Message Expiry Interval
    assert message["user"]["message-id"] == message_url.rsplit("/", 1)[1]
    assert message["user"]["content-encoding"] == "aes128gcm"
    assert message["correlation"] == message["user"]["message-id"].encode()
    assert message["response_topic"] == sub["mqtt_ack_topic"]
    # P-30, P-35, V-19: Urgency, Topic, the JWT and k never reach the device.
    assert "Authorization" not in json.dumps(message["user"]) and "vapid" not in json.dumps(message["user"])
    device.disconnect()


def test_pywebpush_webpush_call(server, broker):
    """The plain `webpush()` call of pywebpush, as application servers write it."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    vapid, _ = vapid_keys()
    response = webpush(device.subscription_info(sub["endpoint"]), data="lights on",
                       vapid_private_key=vapid, vapid_claims={"sub": "mailto:ops@example.com"}, ttl=60)
    assert response.status_code == 201, response.text
    [message] = device.wait_messages(1)
    assert device.decrypt(message["payload"]) == b"lights on"
    assert message["topic"].endswith("/normal")            # P-28: default urgency
    device.disconnect()


def test_http2_prior_knowledge(server, broker):
    """The same over HTTP/2 (h2c prior knowledge) on the same port."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    body = encrypted_body(device, sub["endpoint"], b"over h2")
    with httpx.Client(http1=False, http2=True) as client:
        response = client.post(sub["endpoint"], content=body, headers={"TTL": "30", "Content-Encoding": "aes128gcm"})
        assert response.http_version == "HTTP/2"
        assert response.status_code == 201
        h2_sub = server.subscribe(client=client)
        assert h2_sub["endpoint"].startswith(server.url)
    [message] = device.wait_messages(1)
    assert message["payload"] == body
    assert device.decrypt(message["payload"]) == b"over h2"
    device.disconnect()


def test_urgency_selects_topic_level(server, broker):
    """A device that subscribes to …/high/# is woken only by high-urgency pushes, with or
    without a Topic (Topic messages use the same topics)."""
    sub = server.subscribe()
    picky = Device(broker, sub["mqtt_topic"].replace("#", "high/#")).connect()
    for urgency in ("very-low", "low", "normal", "high"):
        response = httpx.post(sub["endpoint"], headers={"TTL": "60", "Urgency": urgency})
        assert response.status_code == 201, response.text
        response = httpx.post(sub["endpoint"], headers={"TTL": "60", "Urgency": urgency, "Topic": f"t-{urgency}"})
        assert response.status_code == 201, response.text
    picky.wait_messages(2)
    time.sleep(0.3)
    assert [m["topic"].split("/")[-1] for m in picky.messages] == ["high", "high"]
    assert all(m["topic"] == sub["mqtt_topic"].replace("#", "high") for m in picky.messages)
    picky.disconnect()


def test_empty_push_is_legal(server, broker):
    """P-20 / E-12: a push without a body (and without Content-Encoding) is accepted."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    response = httpx.post(sub["endpoint"], headers={"TTL": "10"})
    assert response.status_code == 201
    [message] = device.wait_messages(1)
    assert message["payload"] == b"" and "content-encoding" not in message["user"]
    device.disconnect()


def test_ttl_is_capped_and_echoed(pushgate_bin, tmp_path, broker):
    """P-23, P-24: TTL above the configured maximum is shortened and the applied TTL echoed;
    values beyond 2^31 are treated as 2^31."""
    server = Server(pushgate_bin, tmp_path, broker, extra="limits:\n  max_ttl_seconds: 3600\n")
    try:
        sub = server.subscribe()
        for requested, applied in (("60", "60"), ("86400", "3600"), ("99999999999999999999", "3600")):
            response = httpx.post(sub["endpoint"], headers={"TTL": requested})
            assert response.status_code == 201
            assert response.headers["ttl"] == applied
    finally:
        server.stop()


def test_ttl_zero_reaches_only_connected_devices(server, broker):
    """P-26: TTL 0 is delivered to a connected device, never to one that is offline; TTL > 0
    waits in the broker for a device with a persistent session (P-55)."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"], client_id="persistent-device", persistent=True).connect()
    assert httpx.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 201
    [online] = device.wait_messages(1)
    assert online["qos"] == 0 and online["expiry"] is None
    device.disconnect()

    assert httpx.post(sub["endpoint"], headers={"TTL": "0", "Urgency": "high"}).status_code == 201
    assert httpx.post(sub["endpoint"], headers={"TTL": "300", "Urgency": "low"}).status_code == 201
    again = Device(broker, sub["mqtt_topic"], client_id="persistent-device", persistent=True).connect(subscribe=False)
    messages = again.wait_messages(1, timeout=3)
    time.sleep(0.5)
    assert [m["topic"].rsplit("/", 1)[1] for m in again.messages] == ["low"]
    again.disconnect()


def test_restricted_subscription(server, broker):
    """V-01..V-04, V-16, V-17: a restricted subscription accepts only its key."""
    vapid, public = vapid_keys()
    sub = server.subscribe(vapid_key=public)
    assert sub["restricted"] is True
    device = Device(broker, sub["mqtt_topic"]).connect()

    ok = webpush(device.subscription_info(sub["endpoint"]), data="restricted ok", vapid_private_key=vapid,
                 vapid_claims={"sub": "mailto:ops@example.com"}, ttl=60)
    assert ok.status_code == 201

    missing = httpx.post(sub["endpoint"], headers={"TTL": "60"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "vapid"
    assert missing.json()["errno"] == 109

    other, _ = vapid_keys()
    wrong = httpx.post(sub["endpoint"], headers={"TTL": "60", "Authorization": vapid_header(other, server)})
    assert wrong.status_code == 403 and wrong.json()["errno"] == 110
    assert "restricted" in wrong.json()["message"]

    elsewhere = vapid.sign({"aud": "https://other.example", "sub": "mailto:ops@example.com"})["Authorization"]
    bad_aud = httpx.post(sub["endpoint"], headers={"TTL": "60", "Authorization": elsewhere})
    assert bad_aud.status_code == 403 and "aud" in bad_aud.json()["message"]

    messages = device.wait_messages(1)
    time.sleep(0.3)
    assert len(device.messages) == 1 and device.decrypt(device.messages[0]["payload"]) == b"restricted ok"
    device.disconnect()


def _error_rows(server, sub, device):
    """(request kwargs, status, errno) for every 4xx row of the errno table (docs/api.md)."""
    good = encrypted_body(device, sub["endpoint"], b"x")
    vapid, public = vapid_keys()
    bad_rs = bytearray(good)
    bad_rs[16:20] = (17).to_bytes(4, "big")
    same_key_body = bytearray(good)
    raw_public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    same_key_body[21:86] = raw_public
    aes = {"Content-Encoding": "aes128gcm"}
    return [
        ("missing TTL", dict(content=good, headers=aes), 400, 101),
        ("TTL not a number", dict(headers={"TTL": "soon"}), 400, 102),
        ("negative TTL", dict(headers={"TTL": "-1"}), 400, 102),
        ("two TTL values", dict(headers=[("TTL", "1"), ("TTL", "2")]), 400, 102),
        ("two Urgency values", dict(headers={"TTL": "1", "Urgency": "low, high"}), 400, 103),
        ("unknown Urgency", dict(headers={"TTL": "1", "Urgency": "urgent"}), 400, 103),
        ("Topic too long", dict(headers={"TTL": "1", "Topic": "a" * 33}), 400, 104),
        ("Topic not base64url", dict(headers={"TTL": "1", "Topic": "a/b"}), 400, 104),
        ("body without Content-Encoding", dict(content=good, headers={"TTL": "1"}), 400, 105),
        ("aesgcm coding", dict(content=good, headers={"TTL": "1", "Content-Encoding": "aesgcm"}), 400, 105),
        ("body shorter than the header", dict(content=b"short", headers={"TTL": "1", **aes}), 400, 105),
        ("rs below 18", dict(content=bytes(bad_rs), headers={"TTL": "1", **aes}), 400, 105),
        ("VAPID k equals the ECDH key", dict(content=bytes(same_key_body),
                                             headers={"TTL": "1", **aes, "Authorization": vapid_header(vapid, server)}), 400, 107),
        ("invalid VAPID on an open subscription", dict(headers={"TTL": "1", "Authorization": "vapid t=a.b.c, k=" + public}), 403, 110),
        ("body over 4096 bytes", dict(content=b"\0" * 4097, headers={"TTL": "1", **aes}), 413, 124),
    ]


def test_every_error_row(server, broker):
    """Each bad push gets its status and errno, a JSON body, and publishes nothing."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    for name, request, status, errno in _error_rows(server, sub, device):
        response = httpx.post(sub["endpoint"], **request)
        assert response.status_code == status, (name, response.text)
        body = response.json()
        assert body["code"] == status and body["errno"] == errno, (name, body)
        assert body["error"] and body["message"], name
        assert sub["endpoint"].rsplit("/", 1)[1] not in response.text, name   # never echo capabilities
    time.sleep(0.3)
    assert device.messages == []

    # P-41: exactly 4096 bytes is never 413.
    body = encrypted_body(device, sub["endpoint"], b"\0" * 3993)
    assert len(body) == 4096
    assert httpx.post(sub["endpoint"], content=body, headers={"TTL": "1", "Content-Encoding": "aes128gcm"}).status_code == 201

    unknown = httpx.post(f"{server.url}/p/{'A' * 22}", headers={"TTL": "1"})
    assert unknown.status_code == 404 and unknown.json()["errno"] == 120
    assert httpx.post(f"{server.url}/p/short", headers={"TTL": "1"}).status_code == 404
    wrong_method = httpx.get(sub["endpoint"])
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    options = httpx.post(f"{server.url}/subscribe", content='{"vapid": "not-a-key"}',
                         headers={"Content-Type": "application/webpush-options+json"})
    assert options.status_code == 400 and options.json()["errno"] == 106
    # V-02: other media types are ignored: an unrestricted subscription.
    ignored = httpx.post(f"{server.url}/subscribe", content='{"vapid": "not-a-key"}', headers={"Content-Type": "application/json"})
    assert ignored.status_code == 201 and ignored.json()["restricted"] is False
    device.disconnect()


def test_oversized_body_refused_without_reading_it(server):
    """A declared body over the limit is refused at once, before it is sent."""
    sub = server.subscribe()
    path = "/" + sub["endpoint"].split("/", 3)[3]
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTTL: 1\r\nContent-Encoding: aes128gcm\r\n"
                  f"Content-Length: 50000000\r\n\r\n".encode())
        reply = s.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413"), reply
    assert '"errno":124' in reply


def test_delete_subscription(server, broker):
    """P-66: DELETE removes it; pushes then get 410 and its topic gets nothing more."""
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    assert httpx.delete(sub["location"]).status_code == 204
    gone = httpx.post(sub["endpoint"], headers={"TTL": "60"})
    assert gone.status_code == 410 and gone.json()["errno"] == 123
    assert httpx.delete(sub["location"]).status_code == 404
    time.sleep(0.3)
    assert device.messages == []
    device.disconnect()


def test_restart_keeps_subscriptions(server, broker):
    """The registry survives a restart; deleted ones stay deleted."""
    kept, deleted = server.subscribe(), server.subscribe()
    assert httpx.delete(deleted["location"]).status_code == 204
    assert server.stop() == 0
    server.start()
    server.wait_ready()
    device = Device(broker, kept["mqtt_topic"]).connect()
    assert httpx.post(kept["endpoint"], headers={"TTL": "60"}).status_code == 201
    assert len(device.wait_messages(1)) == 1
    assert httpx.post(deleted["endpoint"], headers={"TTL": "60"}).status_code == 410
    device.disconnect()


def test_broker_down_then_back(server, broker):
    """Broker down → 503 + Retry-After (nothing accepted); back → 201, without restarting."""
    sub = server.subscribe()
    broker.kill()
    deadline = time.time() + 5
    while httpx.get(f"{server.url}/readyz").status_code == 200 and time.time() < deadline:
        time.sleep(0.02)
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    down = httpx.post(sub["endpoint"], headers={"TTL": "60"})
    assert down.status_code == 503
    assert down.headers["retry-after"].isdigit()
    assert down.json()["errno"] == 130
    broker.start()
    server.wait_ready()
    device = Device(broker, sub["mqtt_topic"]).connect()
    assert httpx.post(sub["endpoint"], headers={"TTL": "60"}).status_code == 201
    assert len(device.wait_messages(1)) == 1
    device.disconnect()


def test_health_and_graceful_shutdown(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json()["ready"] is True
    started = time.time()
    assert server.stop() == 0
    assert time.time() - started < 10
    log = server.log.read_text()
    assert "pushgate: stopped" in log
    # Never log capability URLs or tokens (P-10).
    assert "/p/" not in log.replace("/p/…", "") and "/s/" not in log.replace("/s/…", "")


def test_subscribe_tokens(pushgate_bin, tmp_path, broker):
    """Optional access control: POST /subscribe with a bearer token from the config."""
    server = Server(pushgate_bin, tmp_path, broker, extra='access:\n  subscribe_tokens: ["a-long-enough-secret-token"]\n')
    try:
        refused = httpx.post(f"{server.url}/subscribe")
        assert refused.status_code == 401 and refused.json()["errno"] == 111
        assert httpx.post(f"{server.url}/subscribe", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}).status_code == 401
        ok = httpx.post(f"{server.url}/subscribe", headers={"Authorization": "Bearer a-long-enough-secret-token"})
        assert ok.status_code == 201
    finally:
        server.stop()


def test_second_copy_on_a_busy_port_fails_without_touching_the_first(server, broker, pushgate_bin, tmp_path):
    """A copy started by mistake on the same port (with a registry of its own: on the same one it
    is refused earlier, see test_cluster) fails on the port, with the address and a hint, before it
    connects to the broker: the running instance keeps its one broker session."""
    import subprocess
    assert httpx.get(f"{server.url}/readyz").json()["version"]
    other = tmp_path / "copy.yaml"
    other.write_text(server.config.read_text().replace(f"registry-{server.port}.sqlite", "registry-copy.sqlite"))
    copy = subprocess.run([str(pushgate_bin), "serve", "--config", str(other)], capture_output=True, text=True, timeout=30)
    assert copy.returncode == 1
    assert "already in use" in copy.stdout + copy.stderr and f"127.0.0.1:{server.port}" in copy.stdout + copy.stderr
    time.sleep(0.5)
    assert server.log.read_text().count("connected to MQTT broker") == 1
    assert httpx.get(f"{server.url}/readyz").status_code == 200
