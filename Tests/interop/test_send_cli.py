"""`pushgate send` is a standard application server: what it POSTs is decrypted by http_ece
(RFC 8291) and its VAPID token verifies with `cryptography` (RFC 8292). And VAPID tokens made
by py-vapid (pywebpush's signer) pass `pushgate vapid verify`."""
import base64
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import http_ece
import py_vapid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import free_port


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Capture(BaseHTTPRequestHandler):
    """Records one request and answers like a push service."""
    requests = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Capture.requests.append((self.path, dict(self.headers), body))
        self.send_response(201)
        self.send_header("Location", "/m/fake-message-id")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_send_is_decryptable_and_signed(pushgate_bin, tmp_path):
    device = ec.generate_private_key(ec.SECP256R1())
    p256dh = device.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    vapid = py_vapid.Vapid02()
    vapid.generate_keys()
    key_file = tmp_path / "vapid.pem"
    key_file.write_bytes(vapid.private_pem())

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Capture)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    Capture.requests.clear()

    endpoint = f"http://127.0.0.1:{port}/p/abc123"
    result = subprocess.run(
        [str(pushgate_bin), "send", "--endpoint", endpoint, "--p256dh", b64url(p256dh),
         # `=`: a base64url secret may start with '-' (1 in 64), which a separate argument would make an option.
         f"--auth={b64url(auth)}",
         "--vapid-key", f"@{key_file}", "--subject", "mailto:ops@example.com", "--ttl", "30",
         "--urgency", "high", "--topic", "door", "--message", "the door is open"],
        capture_output=True, text=True, timeout=60)
    thread.join(timeout=10)
    server.server_close()
    assert result.returncode == 0, result.stderr
    assert "HTTP 201" in result.stdout
    assert "Location: /m/fake-message-id" in result.stdout

    path, headers, body = Capture.requests[0]
    assert path == "/p/abc123"
    assert headers["TTL"] == "30" and headers["Urgency"] == "high" and headers["Topic"] == "door"
    assert headers["Content-Encoding"] == "aes128gcm"
    # RFC 8291: one record, 86-octet header with the sender's ephemeral key as key id.
    assert body[20] == 65 and body[21] == 4 and len(body) == 86 + len("the door is open") + 17
    plaintext = http_ece.decrypt(body, private_key=device, auth_secret=auth, version="aes128gcm")
    assert plaintext == b"the door is open"

    # RFC 8292: vapid t=<ES256 JWT>, k=<the key we gave>.
    scheme, params = headers["Authorization"].split(" ", 1)
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    token, k = fields["t"], fields["k"]
    public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert unb64url(k) == public
    header_b64, claims_b64, sig_b64 = token.split(".")
    assert json.loads(unb64url(header_b64))["alg"] == "ES256"
    claims = json.loads(unb64url(claims_b64))
    assert claims["aud"] == f"http://127.0.0.1:{port}"
    assert claims["sub"] == "mailto:ops@example.com"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    signature = unb64url(sig_b64)
    assert len(signature) == 64
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    vapid.public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))


def test_py_vapid_tokens_pass_pushgate_verify(pushgate_bin):
    vapid = py_vapid.Vapid02()
    vapid.generate_keys()
    headers = vapid.sign({"aud": "https://push.example.net", "sub": "mailto:ops@example.com"})
    authorization = headers["Authorization"]
    assert authorization.startswith("vapid t=")
    public = b64url(vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    ok = subprocess.run([str(pushgate_bin), "vapid", "verify", "--audience", "https://push.example.net",
                         "--key", public, authorization], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert public in ok.stdout

    other = py_vapid.Vapid02()
    other.generate_keys()
    other_public = b64url(other.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    for args, status in ((["--audience", "https://other.example"], "403"),
                         (["--audience", "https://push.example.net", "--key", other_public], "403")):
        bad = subprocess.run([str(pushgate_bin), "vapid", "verify", *args, authorization], capture_output=True, text=True)
        assert bad.returncode == 1
        assert f"HTTP {status}" in bad.stdout


def test_version_and_vapid_key_file_is_never_overwritten(pushgate_bin, tmp_path):
    """`pushgate --version` answers; `vapid generate --pem-file` keeps an existing key file unless
    --force (it may be the key application servers sign with)."""
    version = subprocess.run([str(pushgate_bin), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip().count(".") == 2
    pem = tmp_path / "vapid.pem"
    pem.write_text("the key in use")
    refused = subprocess.run([str(pushgate_bin), "vapid", "generate", "--pem-file", str(pem)], capture_output=True, text=True)
    assert refused.returncode == 1 and "--force" in refused.stderr and pem.read_text() == "the key in use"
    forced = subprocess.run([str(pushgate_bin), "vapid", "generate", "--pem-file", str(pem), "--force"], capture_output=True, text=True)
    assert forced.returncode == 0 and pem.read_text().startswith("-----BEGIN")


def test_send_errors_are_one_clear_line(pushgate_bin, tmp_path):
    """`send` failures: exit 1 with one line naming the problem (no dumps, no crash)."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')
    port = free_port()
    keys = ["--p256dh", "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "--auth", "BTBZMqHH6r4Tts7J_aSIgg"]
    for args, expected in [(["--subscription", str(tmp_path / "missing.json")], "cannot read"),
                           (["--subscription", str(bad)], "is not a subscription"),
                           (["--endpoint", f"http://127.0.0.1:{port}/p/x", *keys, "--vapid-key", "not-a-key"], "--vapid-key is not a P-256 private key"),
                           (["--endpoint", f"http://127.0.0.1:{port}/p/x", *keys], f"cannot connect to 127.0.0.1:{port}")]:
        result = subprocess.run([str(pushgate_bin), "send", *args], capture_output=True, text=True, timeout=30)
        lines = [line for line in result.stderr.splitlines() if line.startswith("send: ")]
        assert result.returncode == 1, result.stderr
        assert len(lines) == 1 and expected in lines[0], result.stderr
        assert "Backtrace" not in result.stderr and "Fatal" not in result.stderr
