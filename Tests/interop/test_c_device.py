"""The C device example (Examples/c: libmosquitto + OpenSSL, built with gcc by make) against a real
Pushgate and mosquitto: it subscribes, decrypts what pywebpush encrypted for it, and its MQTT
acknowledgement produces the delivery receipt (issue 14)."""
import json
import subprocess
from pathlib import Path

import httpx
import pytest
from pywebpush import webpush

from test_receipts import SSEReader, receipt_subscription

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def c_device() -> Path:
    subprocess.run(["make", "-C", str(ROOT / "Examples" / "c")], check=True, capture_output=True)
    return ROOT / "Examples" / "c" / "pushgate-device"


def test_c_device_decrypts_a_pywebpush_push_and_its_acknowledgement_makes_the_receipt(c_device, server, broker, tmp_path):
    out = tmp_path / "subscription.json"
    device = subprocess.Popen([str(c_device), "--pushgate", server.url, "--broker-port", str(broker.port), "--out", str(out),
                               "--count", "2", "--timeout", "20"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert device.stdout.readline().startswith("subscribed:")
        assert device.stdout.readline().strip() == "ready"
        subscription = json.loads(out.read_text())
        response = webpush(subscription, data="lights on, from C", ttl=60)
        assert response.status_code == 201
        assert device.stdout.readline().strip() == "message: lights on, from C"

        # The second message asks for a receipt: the C device's acknowledgement (Response Topic +
        # Correlation Data) is what turns it into a 204.
        receipts = receipt_subscription(server)
        reader = SSEReader(receipts)
        pushed = httpx.post(subscription["endpoint"], headers={"TTL": "60", "Prefer": "respond-async",
                                                              "Link": f'<{receipts}>; rel="urn:ietf:params:push:receipt"'})
        assert pushed.status_code == 202
        assert device.stdout.readline().strip() == "message:"           # no body: an empty message
        [event] = reader.wait(1)
        assert event["data"]["status"] == 204 and event["data"]["message"] == pushed.headers["location"]
        reader.close()
        assert device.wait(10) == 0
    finally:
        if device.poll() is None:
            device.kill()
