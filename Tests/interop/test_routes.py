"""Admin routes (broadcast lists in the config): one push, one broker publish, every device of
the fleet subscribed to the route's topic receives it. The application server is pywebpush with
the subscription `pushgate routes --json` prints; devices are paho-mqtt + http-ece sharing the
fleet's key pair."""
import http.client
import json
import signal
import subprocess
import time

import httpx
from pywebpush import webpush

from harness import Device, Server, b64url, vapid_keys



def routes_yaml(*routes) -> str:
    lines = ["routes:"]
    for name, topic, key, fleet in routes:
        lines += [f"  - name: {name}", f'    topic: "{topic}"', f'    vapid_keys: ["{key}"]']
        if fleet:
            lines.append(f'    keys: {{p256dh: "{fleet.p256dh}", auth: "{b64url(fleet.auth)}"}}')
    return "\n".join(lines) + "\n"


def fleet_devices(broker, topic, count, fleet):
    """`count` devices subscribed to `topic`, all holding the fleet's Web Push key pair."""
    devices = [Device(broker, topic) for _ in range(count)]
    for device in devices:
        device.private_key, device.auth, device.p256dh = fleet.private_key, fleet.auth, fleet.p256dh
    return [device.connect() for device in devices]


def routes_cli(server) -> dict:
    out = subprocess.run([str(server.binary), "routes", "--config", str(server.config), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return {entry["name"]: entry for entry in map(json.loads, out.splitlines())}


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_broadcast_route_reaches_the_whole_fleet(pushgate_bin, tmp_path, broker):
    vapid, public = vapid_keys()
    fleet = Device(broker, "fleet/all")
    server = Server(pushgate_bin, tmp_path, broker, extra=routes_yaml(("fleet", "fleet/all", public, fleet)))
    try:
        devices = fleet_devices(broker, "fleet/all", 3, fleet)
        entry = routes_cli(server)["fleet"]
        assert entry["topic"] == "fleet/all"
        subscription = entry["subscription"]
        assert subscription["endpoint"].startswith(f"{server.url}/r/")
        assert subscription["keys"] == {"p256dh": fleet.p256dh, "auth": b64url(fleet.auth)}

        response = webpush(subscription, data="firmware 2.1 is out", vapid_private_key=vapid,
                           vapid_claims={"sub": "mailto:ops@example.com"}, ttl=600, headers={"Urgency": "high"})
        assert response.status_code == 201, response.text
        assert response.headers["TTL"] == "600"
        received = [device.wait_messages(1) for device in devices]
        assert all(len(messages) == 1 for messages in received), received
        for device, [message] in zip(devices, received):
            assert message["topic"] == "fleet/all"
            assert message["user"]["urgency"] == "high"
            assert message["user"]["content-encoding"] == "aes128gcm"
            assert response.headers["Location"].endswith("/m/" + message["user"]["message-id"])
            assert 590 <= message["expiry"] <= 600
            assert device.decrypt(message["payload"]) == b"firmware 2.1 is out"
        # Exactly one publish: the broker fanned it out.
        time.sleep(0.2)
        assert all(len(device.messages) == 1 for device in devices)

        # Refusals change nothing.
        endpoint = subscription["endpoint"]
        assert httpx.post(endpoint, headers={"TTL": "60"}).status_code == 401
        stranger, _ = vapid_keys()
        other = httpx.post(endpoint, headers={"TTL": "60", "Authorization": stranger.sign(
            {"aud": server.url, "sub": "mailto:x@example.com"})["Authorization"]})
        assert other.status_code == 403 and other.json()["errno"] == 150
        auth = vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]
        topic = httpx.post(endpoint, headers={"TTL": "60", "Topic": "fw", "Authorization": auth})
        assert topic.status_code == 400 and topic.json()["errno"] == 151
        assert httpx.post(f"{server.url}/r/AAAAAAAAAAAAAAAAAAAAAA", headers={"TTL": "60", "Authorization": auth}).status_code == 404
        time.sleep(0.2)
        assert all(len(device.messages) == 1 for device in devices)
        for device in devices:
            device.disconnect()
    finally:
        server.stop()


def test_route_url_is_stable_and_reloads_on_sighup(pushgate_bin, tmp_path, broker):
    vapid, public = vapid_keys()
    first = routes_yaml(("fleet", "fleet/all", public, None), ("lamps", "site/lamps", public, None))
    server = Server(pushgate_bin, tmp_path, broker, extra=first)
    try:
        urls = {name: entry["subscription"]["endpoint"] for name, entry in routes_cli(server).items()}
        auth = lambda: {"TTL": "0", "Authorization": vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]}
        assert httpx.post(urls["fleet"], headers=auth()).status_code == 201

        # One keep-alive HTTP connection across the reload: it must survive.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() and connection.sock is not None
        local = connection.sock.getsockname()

        # Reload: lamps removed, heating added, fleet kept.
        second = routes_yaml(("fleet", "fleet/all", public, None), ("heating", "site/heating", public, None))
        server.config.write_text(server.config.read_text().replace(first, second))
        server.process.send_signal(signal.SIGHUP)
        new_urls = {name: entry["subscription"]["endpoint"] for name, entry in routes_cli(server).items()}
        assert new_urls["fleet"] == urls["fleet"]
        heating = Device(broker, "site/heating").connect()
        assert wait_for(lambda: httpx.post(new_urls["heating"], headers=auth()).status_code == 201)
        assert heating.wait_messages(1)[0]["topic"] == "site/heating"
        assert httpx.post(urls["lamps"], headers=auth()).status_code == 404
        assert httpx.post(urls["fleet"], headers=auth()).status_code == 201

        connection.request("GET", "/readyz")
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["ready"] is True
        assert connection.sock.getsockname() == local          # the same TCP connection
        log = server.log.read_text()
        assert log.count("connected to MQTT broker") == 1               # the broker connection stayed up
        assert "config: reloaded" in log

        # A file that no longer validates is refused; the routes in force stay.
        server.config.write_text(server.config.read_text().replace('topic: "site/heating"', 'topic: "site/#"'))
        server.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reload refused" in server.log.read_text())
        assert "contains a wildcard" in server.log.read_text()
        assert httpx.post(new_urls["heating"], headers=auth()).status_code == 201
        assert server.process.poll() is None

        # Restart: the same URLs (derived from the secret in the registry, not drawn anew).
        server.config.write_text(server.config.read_text().replace('topic: "site/#"', 'topic: "site/heating"'))
        server.stop()
        server.start()
        assert httpx.post(new_urls["heating"], headers=auth()).status_code == 201
        assert httpx.post(urls["fleet"], headers=auth()).status_code == 201
        heating.disconnect()
        connection.close()
    finally:
        server.stop()


def test_debug_log_holds_neither_the_installation_secret_nor_a_route_url(pushgate_bin, tmp_path, broker):
    """At logging.level debug ServiceLifecycle prints every service at start; none may print the
    installation secret (every route URL derives from it) or a route's token; a SIGHUP neither."""
    import sqlite3
    vapid, public = vapid_keys()
    server = Server(pushgate_bin, tmp_path, broker, log_level="debug", extra=routes_yaml(("fleet", "fleet/all", public, None)))
    try:
        token = routes_cli(server)["fleet"]["subscription"]["endpoint"].rsplit("/", 1)[1]
        server.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "config: reloaded" in server.log.read_text())
        database = sqlite3.connect(str(tmp_path / f"registry-{server.port}.sqlite"))
        secret = database.execute("SELECT value FROM secrets WHERE name = 'installation'").fetchone()[0]
        database.close()
        log = server.log.read_text()
        assert "Starting service" in log, "the services were listed at debug"
        for form in (secret.hex(), b64url(secret), str(list(secret)), ", ".join(str(b) for b in secret[:8]), token):
            assert form not in log, form
    finally:
        server.stop()
