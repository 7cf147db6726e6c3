"""Real processes for the integration tests: a mosquitto broker and a `pushgate serve`, each on
a free 127.0.0.1 port, stopped by PID; and a device made of paho-mqtt + http-ece."""
import base64
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import py_vapid
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import free_port


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_keys():
    """A new py-vapid application server key and its base64url public key."""
    vapid = py_vapid.Vapid02()
    vapid.generate_keys()
    public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return vapid, b64url(public)


def create_subscriptions(binary: Path, config: Path, count: int, rows: bool = True, with_sets: bool = False,
                         restricted_to: str | None = None) -> list:
    """Creates `count` subscriptions in bulk with `pushgate admin create-subscriptions` (durable
    HTTP subscribes, one fsync each, would dominate a test or benchmark at this scale) in the
    registry of a stopped server, which loads them at its next start; returns their
    (push token, topic id) pairs (none with `rows=False`; `with_sets`, each in a set of its own as
    POST /subscribe makes them, only with `rows=False`: their topics have one more level;
    `restricted_to`, every one restricted to that application server key)."""
    if count <= 0:
        return []
    assert not (rows and with_sets), "rows are (push token, topic id) of subscriptions without sets"
    result = subprocess.run([str(binary), "admin", "create-subscriptions", "--config", str(config), "--count", str(count)]
                            + ([] if rows else ["--output", "/dev/null"]) + (["--with-sets"] if with_sets else [])
                            + (["--restricted-to", restricted_to] if restricted_to else []),
                            check=True, capture_output=True, text=True)
    pairs = []
    for line in result.stdout.splitlines():
        created = json.loads(line)
        pairs.append((created["endpoint"].rsplit("/", 1)[1], created["mqtt_topic"].split("/")[-2]))
    return pairs


def registry_stats(binary: Path, config: Path) -> dict:
    """`pushgate admin stats`: {"deleted", "lists", "sets", "subscriptions"}."""
    result = subprocess.run([str(binary), "admin", "stats", "--config", str(config)], check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port}")


class Broker:
    """mosquitto on a free port; restartable on the same port."""

    def __init__(self, directory: Path, extra: str = "", anonymous: bool = True):
        """`anonymous=False`: logins only (give `password_file` and `acl_file` in `extra`)."""
        self.port = free_port()
        self.conf = directory / f"mosquitto-{self.port}.conf"
        self.log = directory / f"mosquitto-{self.port}.log"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous {'true' if anonymous else 'false'}\nmax_inflight_messages 65535\n"
            f"max_queued_messages 1000000\npersistence false\n{extra}\n")
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_for_port(self.port)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self):
        """SIGSTOP: alive to TCP, answering nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def reload(self):
        """SIGHUP: mosquitto re-reads its password and ACL files."""
        self.process.send_signal(signal.SIGHUP)


class Server:
    """`pushgate serve` with a generated config; restartable with the same registry."""

    def __init__(self, binary: Path, directory: Path, broker: Broker, extra: str = "", tls=None, verify=True,
                 server_extra: str = "", log_level: str = "debug", storage: str | None = None, client_id: bool = True,
                 public_url: str | None = None, log_format: str = "text"):
        """`tls`: (certificate, key) PEM paths to serve HTTPS; `verify`: what httpx trusts;
        `storage`: the storage section's body (default: a SQLite file of its own); `client_id`:
        False leaves `mqtt.client_id` unset (each instance derives its own); `public_url`: the
        URL the instances of a cluster share (a load balancer's), instead of this one's own."""
        self.binary = binary
        self.port = free_port()
        self.verify = verify
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        tls_lines = f"  tls:\n    certificate: {tls[0]}\n    private_key: {tls[1]}\n" if tls else ""
        self.config = directory / f"pushgate-{self.port}.yaml"
        self.log = directory / f"pushgate-{self.port}.log"
        self.config.write_text(f"""
server:
  listen: "127.0.0.1:{self.port}"
  public_url: "{public_url or self.url}"
{server_extra}{tls_lines}mqtt:
  url: "mqtt://127.0.0.1:{broker.port}"
{f'  client_id: "pushgate-test-{self.port}"' if client_id else ""}
  reconnect_initial_delay_ms: 20
  reconnect_max_delay_ms: 200
storage:
  {storage or f'path: "registry-{self.port}.sqlite"'}
logging:
  level: {log_level}
  format: {log_format}
{extra}
""")
        self.process = None
        Server.instances.append(self)
        self.start()

    # Every server made by the running test: conftest stops those still running when it ends,
    # whether it passed or failed (a failed assertion skips a test's own `stop()`).
    instances: list = []

    def start(self):
        self.process = subprocess.Popen([str(self.binary), "serve", "--config", str(self.config)],
                                        stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        self.wait_healthy()

    def spawn(self) -> subprocess.Popen:
        """Another `pushgate serve` on the same config, not waited for (it should refuse)."""
        return subprocess.Popen([str(self.binary), "serve", "--config", str(self.config)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9, as a crash would."""
        self.process.kill()
        self.process.wait()

    def wait_healthy(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(self.log.read_text())

    def restart_with_mqtt(self, line: str) -> None:
        """Restarts with one more line in the `mqtt` section (e.g. `protocol_version: "3.1.1"`)."""
        self.stop()
        self.config.write_text(self.config.read_text().replace("mqtt:\n", f"mqtt:\n  {line}\n"))
        self.start()
        self.wait_ready()

    def stop(self, sig=signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def wait_ready(self, timeout: float = 15) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if httpx.get(f"{self.url}/readyz", verify=self.verify).status_code == 200:
                return
            time.sleep(0.05)
        raise TimeoutError("not ready")

    def subscribe(self, vapid_key: str | None = None, client: httpx.Client | None = None) -> dict:
        client = client or httpx.Client()
        if vapid_key is None:
            response = client.post(f"{self.url}/subscribe")
        else:
            response = client.post(f"{self.url}/subscribe", content=json.dumps({"vapid": vapid_key}),
                                   headers={"Content-Type": "application/webpush-options+json"})
        assert response.status_code == 201, response.text
        body = response.json()
        body["location"] = response.headers["location"]
        body["links"] = response.headers.get_list("link")
        return body


class Device:
    """A device: its own Web Push keys, and an MQTT 5 client subscribed to its mqtt_topic."""

    def __init__(self, broker: Broker, topic: str, client_id: str | None = None, persistent: bool = False,
                 username: str | None = None, password: str | None = None):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                            serialization.PublicFormat.UncompressedPoint)
        self.p256dh = b64url(public)
        self.broker = broker
        self.topic = topic
        self.client_id = client_id or f"device-{os.urandom(4).hex()}"
        self.persistent = persistent
        self.username, self.password = username, password
        self.messages = []
        self.lock = threading.Lock()
        self.client = None

    def subscription_info(self, endpoint: str) -> dict:
        return {"endpoint": endpoint, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}

    def connect(self, subscribe: bool = True):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        connected = threading.Event()
        self.client.on_connect = lambda *args: connected.set()
        properties = Properties(PacketTypes.CONNECT)
        if self.persistent:
            properties.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", self.broker.port, clean_start=not self.persistent, properties=properties)
        self.client.loop_start()
        assert connected.wait(5)
        if subscribe:
            self.client.subscribe(self.topic, qos=1)
            assert subscribed.wait(5)
        return self

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client, userdata, message):
        props = message.properties
        record = {
            "topic": message.topic, "payload": bytes(message.payload), "qos": message.qos,
            "user": dict(getattr(props, "UserProperty", []) or []),
            "expiry": getattr(props, "MessageExpiryInterval", None),
            "correlation": getattr(props, "CorrelationData", None),
            "response_topic": getattr(props, "ResponseTopic", None),
        }
        with self.lock:
            self.messages.append(record)

    def wait_messages(self, count: int, timeout: float = 5) -> list:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.01)
        with self.lock:
            return list(self.messages)

    def ready(self, ack_topic: str) -> None:
        """Says "ready" the way the MQTT contract says: an empty message without Correlation Data
        on the (subscription's or set's) acknowledgement topic; Pushgate sends what it holds."""
        self.client.publish(ack_topic, b"", qos=1).wait_for_publish(5)

    def acknowledge(self, message: dict) -> None:
        """Acknowledges a message the way the MQTT contract says: publish to its Response Topic
        with the Correlation Data it carried."""
        properties = Properties(PacketTypes.PUBLISH)
        properties.CorrelationData = message["correlation"]
        self.client.publish(message["response_topic"], b"", qos=1, properties=properties).wait_for_publish(5)

    def decrypt(self, payload: bytes) -> bytes:
        import http_ece
        return http_ece.decrypt(payload, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")


ROOT = Path(__file__).resolve().parents[2]


class Postgres:
    """A PostgreSQL database of its own for one test: on the run's server
    (`PUSHGATE_TEST_POSTGRES_URL`, which scripts/test.sh starts), or with `own=True` on a server
    of its own that the test may stop and start (`scripts/postgres.sh`, same port each time).
    Without either, the test is skipped — unless `PUSHGATE_TEST_REQUIRE_POSTGRES=1`."""

    def __init__(self, own: bool = False):
        import pytest
        import tempfile
        self.directory = None
        shared = os.environ.get("PUSHGATE_TEST_POSTGRES_URL")
        if own:
            # The server runs as the postgres user when we are root: its folder must be reachable.
            self.directory = Path(tempfile.mkdtemp(prefix="pushgate-pg-", dir="/tmp"))
            os.chmod(self.directory, 0o755)
            try:
                server = self._script("start")
            except (subprocess.CalledProcessError, FileNotFoundError) as error:
                if os.environ.get("PUSHGATE_TEST_REQUIRE_POSTGRES") == "1":
                    raise
                pytest.skip(f"no PostgreSQL server: {error}")
        elif shared:
            server = shared
        elif os.environ.get("PUSHGATE_TEST_REQUIRE_POSTGRES") == "1":
            raise RuntimeError("PUSHGATE_TEST_REQUIRE_POSTGRES=1 but PUSHGATE_TEST_POSTGRES_URL is unset")
        else:
            pytest.skip("no PostgreSQL server (PUSHGATE_TEST_POSTGRES_URL)")
        self.server = server.rsplit("/", 1)[0]
        host_port = self.server.split("@", 1)[1]
        self.host, self.port = host_port.rsplit(":", 1)
        self.database = f"pushgate_{os.urandom(6).hex()}"
        self.psql("postgres", f"CREATE DATABASE {self.database}")
        self.url = f"{self.server}/{self.database}?sslmode=disable"

    def _script(self, command: str) -> str:
        return subprocess.run([str(ROOT / "scripts" / "postgres.sh"), command, str(self.directory / "server")],
                              check=True, capture_output=True, text=True).stdout.strip()

    def psql(self, database: str, sql: str) -> str:
        return subprocess.run(["psql", "-h", self.host, "-p", self.port, "-U", "postgres", "-d", database, "-tAc", sql],
                              check=True, capture_output=True, text=True).stdout.strip()

    def storage(self) -> str:
        """The storage section's body for Server(storage=...)."""
        return f'url: "{self.url}"'

    def stop(self) -> None:
        """Stops its own server (fast shutdown: connections are closed)."""
        self._script("stop")

    def start(self) -> None:
        self._script("start")

    def close(self) -> None:
        if self.directory:
            try:
                self._script("stop")
            finally:
                subprocess.run(["rm", "-rf", str(self.directory)], check=False)
