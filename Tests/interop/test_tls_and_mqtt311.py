"""HTTPS with ALPN (h2 and http/1.1) using a test CA made here, and an MQTT 3.1.1 broker
connection (the payload still arrives; MQTT 5 properties do not)."""
import subprocess
import ssl
import time

import httpx
import pytest

from harness import Device, Server


def make_certificates(folder):
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=Pushgate Test CA", "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.pem"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(folder / "server.key"), "-out", str(folder / "server.csr"))
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(folder / "ca.pem"), "-CAkey", str(folder / "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", str(folder / "san.ext"), "-out", str(folder / "server.pem"))


def test_https_alpn_h2_and_http1(pushgate_bin, tmp_path, broker):
    """server.tls: HTTP/2 and HTTP/1.1 chosen by ALPN; URLs handed out are https."""
    make_certificates(tmp_path)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    server = Server(pushgate_bin, tmp_path, broker, tls=(tmp_path / "server.pem", tmp_path / "server.key"), verify=context)
    try:
        with httpx.Client(http2=True, verify=context) as h2:
            sub = h2.post(f"{server.url}/subscribe")
            assert sub.http_version == "HTTP/2" and sub.status_code == 201
            assert sub.json()["endpoint"].startswith("https://127.0.0.1:")
            device = Device(broker, sub.json()["mqtt_topic"]).connect()
            pushed = h2.post(sub.json()["endpoint"], headers={"TTL": "30"})
            assert pushed.http_version == "HTTP/2" and pushed.status_code == 201
            assert len(device.wait_messages(1)) == 1
            device.disconnect()
        with httpx.Client(http2=False, verify=context) as h1:
            response = h1.post(f"{server.url}/subscribe")
            assert response.http_version == "HTTP/1.1" and response.status_code == 201
        # A client that does not trust the test CA refuses the certificate.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/healthz")
    finally:
        server.stop()


def test_mqtt311_broker_connection(pushgate_bin, tmp_path, broker):
    server = Server(pushgate_bin, tmp_path, broker)
    server.restart_with_mqtt('protocol_version: "3.1.1"')
    try:
        sub = server.subscribe()
        device = Device(broker, sub["mqtt_topic"]).connect()
        response = httpx.post(sub["endpoint"], content=b"\x00" * 16 + b"\x00\x00\x10\x00\x00" + b"\x01" * 20,
                              headers={"TTL": "60", "Urgency": "low", "Content-Encoding": "aes128gcm"})
        assert response.status_code == 201
        [message] = device.wait_messages(1)
        assert message["payload"].startswith(b"\x00" * 16)
        assert message["topic"].endswith("/low")          # urgency still selectable by topic
        assert message["user"] == {} and message["expiry"] is None and message["correlation"] is None
        # Topic replacement needs acknowledgements, which 3.1.1 cannot carry: refused, not faked.
        refused = httpx.post(sub["endpoint"], headers={"TTL": "60", "Topic": "t"})
        assert refused.status_code == 400 and refused.json()["errno"] == 108
        time.sleep(0.3)
        assert len(device.messages) == 1
        device.disconnect()
    finally:
        server.stop()


def handshake(port: int, *options: str) -> subprocess.CompletedProcess:
    """One TLS handshake with openssl s_client (its client side allows old versions here, so the
    server's policy is what is tested)."""
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "127.0.0.1",
                           "-cipher", "DEFAULT@SECLEVEL=0", *options],
                          input=b"", capture_output=True, timeout=20)


def test_tls_1_2_minimum(pushgate_bin, tmp_path, broker):
    """TLS 1.0 and 1.1 are refused; 1.2 and 1.3 are accepted."""
    make_certificates(tmp_path)
    server = Server(pushgate_bin, tmp_path, broker, tls=(tmp_path / "server.pem", tmp_path / "server.key"),
                    verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")))
    try:
        for version in ("-tls1", "-tls1_1"):
            refused = handshake(server.port, version)
            assert refused.returncode != 0 and b"alert protocol version" in refused.stderr, version
            assert b"no peer certificate available" in refused.stdout, version
        for version, name in (("-tls1_2", b"TLSv1.2"), ("-tls1_3", b"TLSv1.3")):
            accepted = handshake(server.port, version)
            assert accepted.returncode == 0 and name in accepted.stdout, version
    finally:
        server.stop()


def test_certificate_reloaded_on_sighup_while_an_old_connection_survives(pushgate_bin, tmp_path, broker):
    """A renewed certificate at the same paths + SIGHUP: new connections get it; a connection
    opened before keeps working."""
    import signal
    make_certificates(tmp_path)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    server = Server(pushgate_bin, tmp_path, broker, tls=(tmp_path / "server.pem", tmp_path / "server.key"), verify=context)
    try:
        def serial() -> bytes:
            out = handshake(server.port, "-showcerts").stdout
            pem = out[out.index(b"-----BEGIN CERTIFICATE-----"):out.index(b"-----END CERTIFICATE-----") + 25]
            return subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, check=True).stdout
        before = serial()
        old = httpx.Client(http2=True, verify=context)
        assert old.get(f"{server.url}/healthz").status_code == 200
        # Renew: a new key and certificate from the same CA, written over the old files.
        folder = tmp_path / "renewed"
        folder.mkdir()
        subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-keyout", str(tmp_path / "server.key"), "-out", str(folder / "server.csr")], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(tmp_path / "ca.pem"),
                        "-CAkey", str(tmp_path / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(tmp_path / "san.ext"),
                        "-out", str(tmp_path / "server.pem")], check=True, capture_output=True)
        server.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while serial() == before and time.time() < deadline:
            time.sleep(0.1)
        assert serial() != before, "new connections get the renewed certificate"
        assert "server.tls (certificate re-read)" in server.log.read_text()
        assert old.get(f"{server.url}/healthz").status_code == 200, "the connection opened before still works"
        old.close()
        with httpx.Client(verify=context) as fresh:
            assert fresh.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()


def test_cleartext_public_url_warns_unless_allowed(pushgate_bin, tmp_path, broker):
    warned = Server(pushgate_bin, tmp_path, broker)
    allowed = Server(pushgate_bin, tmp_path, broker, server_extra="  allow_cleartext: true\n")
    try:
        assert "server.public_url is http://" in warned.log.read_text()
        assert "server.public_url is http://" not in allowed.log.read_text()
    finally:
        warned.stop()
        allowed.stop()
