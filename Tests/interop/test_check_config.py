"""`pushgate check-config` finds what `serve` would otherwise find only at start (issue 14): TLS
files that do not load or do not belong together, and with --connect a broker or registry that
refuses; `--config` works as for every other command."""
import subprocess

from conftest import free_port
from test_tls_and_mqtt311 import make_certificates


def write_config(folder, broker_port: int, tls: str = "") -> str:
    path = folder / "check.yaml"
    path.write_text(f"""
server:
  listen: "127.0.0.1:{free_port()}"
  public_url: "https://push.example.net"
{tls}mqtt:
  url: "mqtt://127.0.0.1:{broker_port}"
storage:
  path: "registry.sqlite"
""")
    return str(path)


def check(binary, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "check-config", *args], capture_output=True, text=True, timeout=30)


def test_tls_files_are_loaded_and_must_belong_together(pushgate_bin, tmp_path, broker):
    make_certificates(tmp_path)
    good = write_config(tmp_path, broker.port, f"  tls:\n    certificate: {tmp_path / 'server.pem'}\n    private_key: {tmp_path / 'server.key'}\n")
    ok = check(pushgate_bin, "--config", good)
    assert ok.returncode == 0 and "OK" in ok.stdout and "TLS 1.2+" in ok.stdout, ok.stderr
    assert check(pushgate_bin, good).returncode == 0          # the path positionally, as before

    # The CA's key is a valid key, but not the server certificate's.
    mismatched = write_config(tmp_path, broker.port, f"  tls:\n    certificate: {tmp_path / 'server.pem'}\n    private_key: {tmp_path / 'ca.key'}\n")
    result = check(pushgate_bin, "--config", mismatched)
    assert result.returncode == 1 and "does not belong to the certificate" in result.stderr, result.stderr

    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    broken = write_config(tmp_path, broker.port, f"  tls:\n    certificate: {tmp_path / 'garbage.pem'}\n    private_key: {tmp_path / 'server.key'}\n")
    result = check(pushgate_bin, "--config", broken)
    assert result.returncode == 1 and "does not load as PEM" in result.stderr, result.stderr


def test_connect_tries_the_broker_and_the_registry(pushgate_bin, tmp_path, broker):
    reachable = write_config(tmp_path, broker.port)
    ok = check(pushgate_bin, "--config", reachable, "--connect")
    assert ok.returncode == 0 and "accepted the configured login" in ok.stdout, ok.stderr
    unreachable = write_config(tmp_path, free_port())
    result = check(pushgate_bin, "--config", unreachable, "--connect")
    assert result.returncode == 1 and "mqtt:" in result.stderr and "hint" in result.stderr, result.stderr


def test_every_section_mistake_in_one_run(pushgate_bin, tmp_path):
    path = tmp_path / "four.yaml"
    path.write_text("""server:
  listen: "127.0.0.1:80800"
  public_url: "http://127.0.0.1:8080"
mqtt:
  url: "tcp://127.0.0.1:1883"
storage:
  path: "registry.sqlite"
  colour: blue
logging:
  level: loud
""")
    result = check(pushgate_bin, str(path))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert [line.split(":")[1] for line in lines] == ["2", "5", "8", "10"], result.stderr
    assert all("hint" in block for block in result.stderr.split(": error: ")[1:])
