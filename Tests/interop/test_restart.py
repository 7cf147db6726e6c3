"""A restart with a large registry (issue 16): the instance serves within `storage.load_wait_ms`
while the registry is still being read into memory — pushes answered from the database, changes
refused with 503 errno 136 and nothing changed — and takes changes once the registry is in."""
import secrets
import time

import httpx

from harness import Device, Server, create_subscriptions

LARGE = 300_000


def readiness(server: Server, timeout: float = 20) -> dict:
    """The first 200 of /readyz (its body)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready = httpx.get(f"{server.url}/readyz")
        if ready.status_code == 200:
            return ready.json()
        time.sleep(0.005)
    raise TimeoutError("not ready")


def test_pushes_are_served_while_a_large_registry_is_read_in(pushgate_release_bin, tmp_path, broker):
    server = Server(pushgate_release_bin, tmp_path, broker, log_level="info",
                    storage='path: "registry-large.sqlite"\n  load_wait_ms: 0')
    binary = pushgate_release_bin
    known = server.subscribe()
    server.stop()
    create_subscriptions(binary, server.config, LARGE, rows=False, with_sets=True)
    device = Device(broker, known["mqtt_topic"]).connect()

    server.start()
    first = readiness(server)
    assert first["registry"] == "filling" and "subscriptions" not in first, first
    # A change is refused and changes nothing; a push is answered from the database.
    refused = httpx.post(f"{server.url}/subscribe")
    assert refused.status_code == 503 and refused.json()["errno"] == 136, refused.text
    assert refused.headers["retry-after"] == "5"
    assert httpx.delete(known["location"]).json()["errno"] == 136
    assert httpx.post(known["endpoint"], headers={"TTL": "60"}).status_code == 201
    assert httpx.post(f"{server.url}/p/{secrets.token_urlsafe(16)}", headers={"TTL": "60"}).status_code == 404
    assert httpx.get(f"{server.url}/readyz").json()["registry"] == "filling", "the checks above ran after the fill: make LARGE larger"

    deadline = time.time() + 60
    while (body := httpx.get(f"{server.url}/readyz").json())["registry"] != "ready":
        assert time.time() < deadline, "the registry was not read in within 60 s"
        time.sleep(0.05)
    assert body["subscriptions"] == LARGE + 1, "the refused subscribe created nothing, the refused delete deleted nothing"
    assert len(device.wait_messages(1)) == 1
    assert server.subscribe()["endpoint"]
    assert httpx.delete(known["location"]).status_code == 204
    assert httpx.post(known["endpoint"], headers={"TTL": "60"}).status_code == 410
    device.disconnect()
    log = server.log.read_text()
    assert "registry: serving from the database while the index is read in" in log
    assert f"subscriptions={LARGE + 1}" in log and "registry: ready" in log

    # A stop while the registry is being read in does not wait for the read, and is clean.
    assert server.stop() == 0
    server.start()
    assert readiness(server)["registry"] == "filling"
    stopping = time.monotonic()
    assert server.stop() == 0, server.log.read_text()[-2000:]
    assert time.monotonic() - stopping < 10
    assert "registry: stopping before the index was read in" in server.log.read_text()
