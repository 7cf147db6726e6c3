"""The broker access control of docs/mqtt.md (deploy/mosquitto/pushgate.acl) on a real mosquitto
with logins: a device reads only its own messages and writes only its own acknowledgements;
Pushgate works through its own login (issue 14)."""
import subprocess
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from harness import Broker, Device, Server

ROOT = Path(__file__).resolve().parents[2]


def add_login(password_file: Path, user: str, password: str) -> None:
    args = ["mosquitto_passwd", "-b"] + (["-c"] if not password_file.exists() else []) + [str(password_file), user, password]
    subprocess.run(args, check=True, capture_output=True)


def test_devices_are_confined_to_their_own_set(pushgate_bin, tmp_path):
    import os
    import shutil
    import tempfile
    # mosquitto started as root runs as the mosquitto user: its files must be readable to it.
    files = Path(tempfile.mkdtemp(prefix="pushgate-acl-", dir="/tmp"))
    os.chmod(files, 0o755)
    passwords = files / "passwords"
    add_login(passwords, "pushgate", "pushgate-secret")
    acl = files / "pushgate.acl"
    shutil.copy(ROOT / "deploy" / "mosquitto" / "pushgate.acl", acl)
    for path in (passwords, acl):
        os.chmod(path, 0o644)
    broker = Broker(tmp_path, extra=f"password_file {passwords}\nacl_file {acl}\n", anonymous=False)
    (tmp_path / "mqtt-password").write_text("pushgate-secret\n")
    server = Server(pushgate_bin, tmp_path, broker, extra="")
    # Without a login the broker refuses it, and the log says what to set.
    deadline = time.time() + 5
    while "refused the connection" not in server.log.read_text() and time.time() < deadline:
        time.sleep(0.05)
    refusal = server.log.read_text()
    assert "refused the connection" in refusal and "hint" in refusal and "mqtt.username" in refusal
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    server.restart_with_mqtt(f'username: "pushgate"\n  password_file: "{tmp_path / "mqtt-password"}"')
    try:
        a, b = server.subscribe(), server.subscribe()
        set_a, set_b = (s["mqtt_set_topic"].split("/")[1] for s in (a, b))
        add_login(passwords, set_a, "device-a")
        add_login(passwords, set_b, "device-b")
        os.chmod(passwords, 0o644)
        broker.reload()
        time.sleep(0.3)

        device = Device(broker, a["mqtt_topic"], username=set_a, password="device-a").connect()
        # Its own pushes arrive, through Pushgate's login.
        assert httpx.post(a["endpoint"], headers={"TTL": "60"}).status_code == 201
        [message] = device.wait_messages(1)
        assert message["response_topic"].startswith(f"webpush/ack/{set_a}/")

        # It may not read another device's topics: mosquitto 2.0 grants the SUBSCRIBE but never
        # delivers a message the ACL denies (newer brokers refuse it with 0x87).
        answered = threading.Event()
        device.client.on_subscribe = lambda *args: answered.set()
        device.client.subscribe(b["mqtt_topic"], qos=1)
        assert answered.wait(5)
        assert httpx.post(b["endpoint"], headers={"TTL": "60"}).status_code == 201
        time.sleep(1)
        assert len(device.messages) == 1, "B's push must not reach A"

        # ...nor acknowledge on another device's topic (PUBACK 0x87, not authorized)...
        acked = threading.Event()
        results = []

        def on_publish(client, userdata, mid, reason_code, properties):
            results.append(reason_code.value)
            acked.set()
        device.client.on_publish = on_publish
        properties = Properties(PacketTypes.PUBLISH)
        properties.CorrelationData = b"AAAAAAAAAAAAAAAAAAAAAA"
        device.client.publish(b["mqtt_ack_topic"], b"", qos=1, properties=properties)
        assert acked.wait(5) and results == [0x87], results
        # ...while its own acknowledgement goes through.
        acked.clear()
        results.clear()
        device.acknowledge(message)
        assert acked.wait(5) and results == [0], results

        # Without a login nothing connects.
        stranger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stranger", protocol=mqtt.MQTTv5)
        assert stranger.connect("127.0.0.1", broker.port) == 0
        stranger.loop(timeout=2)
        assert not stranger.is_connected()
        device.disconnect()
    finally:
        server.stop()
        broker.kill()
        shutil.rmtree(files, ignore_errors=True)
