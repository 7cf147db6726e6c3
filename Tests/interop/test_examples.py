"""Each example runs once against a real Pushgate and broker, in every pairing: the Python and
Swift senders each reach the Python and Swift devices."""
import select
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_device(kind, bin_dir, server, broker, out):
    if kind == "python":
        command = [sys.executable, str(ROOT / "Examples/python/device.py"), "--pushgate", server.url,
                   "--broker-port", str(broker.port), "--out", str(out), "--count", "1", "--timeout", "30"]
    else:
        command = [str(bin_dir / "pushgate-example-device"), "--pushgate", server.url,
                   "--broker", f"127.0.0.1:{broker.port}", "--out", str(out), "--count", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "the device printed nothing within 30 s"
    line = process.stdout.readline()
    assert line.strip() == "ready", line + (process.stdout.read() if process.poll() is not None else "")
    return process


def run_sender(kind, bin_dir, subscription, message):
    if kind == "python":
        command = [sys.executable, str(ROOT / "Examples/python/sender.py"), "--subscription", str(subscription), "--message", message]
    else:
        command = [str(bin_dir / "pushgate-example-sender"), "--subscription", str(subscription), "--message", message]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("device_kind", ["python", "swift"])
@pytest.mark.parametrize("sender_kind", ["python", "swift"])
def test_example_pair(pushgate_bin, server, broker, tmp_path, device_kind, sender_kind):
    bin_dir = pushgate_bin.parent
    subscription = tmp_path / "subscription.json"
    device = start_device(device_kind, bin_dir, server, broker, subscription)
    try:
        message = f"hello from the {sender_kind} sender to the {device_kind} device"
        sent = run_sender(sender_kind, bin_dir, subscription, message)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith("HTTP 201")
        output, _ = device.communicate(timeout=30)
        assert device.returncode == 0, output
        assert f"message (normal): {message}" in output
    finally:
        if device.poll() is None:
            device.kill()


def test_python_sender_receipt_round_trip(pushgate_bin, server, broker, tmp_path):
    """The README's receipt round trip: the example device acknowledges, the example sender
    asked for a receipt and prints it (204)."""
    subscription = tmp_path / "subscription.json"
    device = start_device("python", pushgate_bin.parent, server, broker, subscription)
    try:
        sent = subprocess.run([sys.executable, str(ROOT / "Examples/python/sender.py"), "--subscription", str(subscription),
                               "--message", "was it received?", "--receipt"], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        lines = sent.stdout.splitlines()
        assert lines[0].startswith("HTTP 202 ") and lines[1] == f"receipt: 204 for {lines[0].split(' ', 2)[2]}"
        output, _ = device.communicate(timeout=30)
        assert "message (normal): was it received?" in output
    finally:
        if device.poll() is None:
            device.kill()


def test_python_device_with_broker_credentials(pushgate_bin, tmp_path):
    """The example device reaches a broker that wants a login (--username/--password), and says
    why at once when it has none, instead of waiting silently."""
    import os
    import tempfile
    from harness import Broker, Server
    # mosquitto drops to its own user before reading the file: put it where that user can read it.
    handle, name = tempfile.mkstemp(dir="/tmp", prefix="pushgate-passwords-")
    os.close(handle)
    passwords = Path(name)
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "device", "s3cret"], check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "pushgate", "gate"], check=True, capture_output=True)
    passwords.chmod(0o644)
    (tmp_path / "gate-password").write_text("gate\n")
    broker = Broker(tmp_path, extra=f"allow_anonymous false\npassword_file {passwords}")
    server = Server(pushgate_bin, tmp_path, broker)
    try:
        server.restart_with_mqtt(f'username: "pushgate"\n  password_file: "{tmp_path / "gate-password"}"')
        base = [sys.executable, str(ROOT / "Examples/python/device.py"), "--pushgate", server.url, "--broker-port", str(broker.port),
                "--out", str(tmp_path / "sub.json"), "--count", "1", "--timeout", "10"]
        refused = subprocess.run(base, capture_output=True, text=True, timeout=30)
        assert refused.returncode == 1 and "broker refused the connection" in refused.stderr
        device = subprocess.Popen(base + ["--username", "device", "--password", "s3cret"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready, _, _ = select.select([device.stdout], [], [], 20)
        assert ready and device.stdout.readline().strip() == "ready"
        sent = subprocess.run([sys.executable, str(ROOT / "Examples/python/sender.py"), "--subscription", str(tmp_path / "sub.json"),
                               "--message", "behind a login"], capture_output=True, text=True, timeout=30)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        output, _ = device.communicate(timeout=20)
        assert "message (normal): behind a login" in output
    finally:
        server.stop()
        broker.kill()
        passwords.unlink()
