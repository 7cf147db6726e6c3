"""Shared fixtures for the interop tests: the pushgate binary and helpers."""
import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pushgate_bin() -> Path:
    """The debug pushgate binary `swift build` made (or $PUSHGATE_BIN)."""
    if "PUSHGATE_BIN" in os.environ:
        return Path(os.environ["PUSHGATE_BIN"])
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    path = Path(bin_dir) / "pushgate"
    assert path.exists(), f"{path} missing: run `swift build` first"
    return path


@pytest.fixture(scope="session")
def pushgate_release_bin() -> Path:
    """The release pushgate binary ($PUSHGATE_RELEASE_BIN, or built here): tests that hold the
    server to latency and memory targets measure the build an operator runs."""
    if "PUSHGATE_RELEASE_BIN" in os.environ:
        return Path(os.environ["PUSHGATE_RELEASE_BIN"])
    subprocess.run(["swift", "build", "-c", "release", "--product", "pushgate"], cwd=ROOT, check=True, capture_output=True)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    return Path(bin_dir) / "pushgate"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def stop_servers_left_running():
    """Stops, after each test, every `harness.Server` it made that still runs, by PID."""
    from harness import Server
    Server.instances.clear()
    yield
    for server in Server.instances:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    Server.instances.clear()


@pytest.fixture
def broker(tmp_path):
    from harness import Broker
    instance = Broker(tmp_path)
    yield instance
    instance.kill()


@pytest.fixture
def server(pushgate_bin, tmp_path, broker):
    from harness import Server
    instance = Server(pushgate_bin, tmp_path, broker)
    yield instance
    instance.stop()
