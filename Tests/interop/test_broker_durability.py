"""What a 201 promises when the broker crashes (issue 15, "what 201 promises"): with the durable
broker settings `scripts/mosquitto.conf` uses (and docs/mqtt.md names), every push answered 201
for an offline device with a persistent session survives kill -9 of the broker."""
import re
import time

import httpx

from conftest import ROOT
from harness import Broker, Device, Server


def durable_settings() -> str:
    """The persistence lines of scripts/mosquitto.conf (the test proves what `make run` uses)."""
    conf = (ROOT / "scripts" / "mosquitto.conf").read_text()
    lines = [line for line in conf.splitlines() if re.match(r"(user|persistence|autosave_on_changes|autosave_interval)\s", line)]
    assert "persistence true" in lines and "autosave_on_changes true" in lines, lines
    return "\n".join(lines)


def test_kill_9_of_the_broker_loses_no_accepted_push(pushgate_bin, tmp_path):
    broker = Broker(tmp_path, extra=f"{durable_settings()}\npersistence_location {tmp_path}/\n")
    server = Server(pushgate_bin, tmp_path, broker, log_level="warning")
    try:
        sub = server.subscribe()
        device = Device(broker, sub["mqtt_topic"], client_id="durable-device", persistent=True).connect()
        device.disconnect()                                   # offline; the broker holds its session
        count = 300
        with httpx.Client() as client:
            for _ in range(count):
                assert client.post(sub["endpoint"], headers={"TTL": "3600"}).status_code == 201
        # mosquitto sends the PUBACK (Pushgate's 201) before the save that follows it: a crash during
        # that save (milliseconds; it rewrites the whole store) can still lose the last message.
        # docs/mqtt.md says so; what is tested here is "saved within moments of the 201".
        # (File times are too coarse to tell that save from the one before it: wait half a second.)
        time.sleep(0.5)
        assert (tmp_path / "mosquitto.db").exists(), "mosquitto saved nothing"
        broker.kill()                                         # SIGKILL: no clean shutdown, no final save
        broker.start()
        device.connect(subscribe=False)
        received = device.wait_messages(count, timeout=15)
        assert len(received) >= count
        device.disconnect()
    finally:
        server.stop()
        broker.kill()
