"""What a 201 tells the application server when nothing will deliver the message (issue 15,
"what 201 promises"): the broker accepts a publish nobody subscribes to (MQTT 5 PUBACK 0x10), and
Pushgate says so with `Pushgate-Subscribers: 0` and a metric, instead of a silent 201."""
import time

import httpx

from conftest import free_port
from harness import Device, Server
from test_metrics import scrape, value


def test_no_subscriber_is_signalled_and_a_persistent_session_counts_as_one(pushgate_bin, tmp_path, broker):
    port = free_port()
    server = Server(pushgate_bin, tmp_path, broker, extra=f'metrics:\n  listen: "127.0.0.1:{port}"\n')
    try:
        sub = server.subscribe()
        nobody = httpx.post(sub["endpoint"], headers={"TTL": "60"})
        assert nobody.status_code == 201 and nobody.headers.get("pushgate-subscribers") == "0"

        # A device with a persistent session, offline now: the broker holds the message for it.
        device = Device(broker, sub["mqtt_topic"], client_id="persistent-device", persistent=True).connect()
        device.disconnect()
        held = httpx.post(sub["endpoint"], headers={"TTL": "60"})
        assert held.status_code == 201 and "pushgate-subscribers" not in held.headers
        device.connect(subscribe=False)
        assert len(device.wait_messages(1)) == 1, "the session delivered it on reconnect"
        online = httpx.post(sub["endpoint"], headers={"TTL": "60"})
        assert online.status_code == 201 and "pushgate-subscribers" not in online.headers
        device.disconnect()

        time.sleep(1.2)
        assert value(scrape(port), "pushgate_pushes_without_subscribers_total") == 1
    finally:
        server.stop()
