"""Faults of the delivery side, as a bad day in production brings them."""
import time

import httpx

from harness import Device, Server


def test_hung_broker_fails_pushes_at_the_deadline_and_recovers(pushgate_bin, tmp_path, broker):
    """Issue 15 #2: a broker stopped with SIGSTOP (alive, silent). Pushes are answered 503 +
    Retry-After at mqtt.publish_timeout_ms (errno 131: it may still arrive), not after the
    keepalive; /readyz says not ready while the broker is silent; after SIGCONT it serves again."""
    server = Server(pushgate_bin, tmp_path, broker)
    server.restart_with_mqtt("publish_timeout_ms: 500")
    try:
        sub = server.subscribe()
        device = Device(broker, sub["mqtt_topic"]).connect()
        broker.pause()
        started = time.monotonic()
        response = httpx.post(sub["endpoint"], headers={"TTL": "60"}, timeout=30)
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and response.json()["errno"] == 131, response.text
        assert response.headers["retry-after"] == "5"
        assert 0.4 <= elapsed < 2.5, elapsed
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and "stopped acknowledging" in ready.json()["broker"]
        broker.resume()
        deadline = time.time() + 5
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.time() < deadline, "not ready again after the broker came back"
            time.sleep(0.1)
        assert httpx.post(sub["endpoint"], headers={"TTL": "60"}).status_code == 201
        device.wait_messages(2)                       # at-least-once: the timed-out one arrives too
        device.disconnect()
    finally:
        broker.resume()
        server.stop()
