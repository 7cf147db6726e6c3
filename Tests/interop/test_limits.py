"""Front-end limits that keep slow or hostile clients from holding resources."""
import socket
import time

from harness import Server


def limited(pushgate_bin, tmp_path, broker):
    return Server(pushgate_bin, tmp_path, broker, server_extra=(
        "  max_header_bytes: 2048\n  request_timeout_seconds: 1\n  idle_timeout_seconds: 2\n"))


def read_all(sock, timeout=5) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def test_header_block_too_large(pushgate_bin, tmp_path, broker):
    server = limited(pushgate_bin, tmp_path, broker)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 4000 + b"\r\nContent-Length: 0\r\n\r\n")
            reply = read_all(s).decode()
        assert reply.startswith("HTTP/1.1 431"), reply[:200]
        assert '"errno":127' in reply
    finally:
        server.stop()


def test_slow_request_gets_408(pushgate_bin, tmp_path, broker):
    server = limited(pushgate_bin, tmp_path, broker)
    try:
        sub = server.subscribe()
        path = "/" + sub["endpoint"].split("/", 3)[3]
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTTL: 1\r\nContent-Length: 100\r\n\r\n0123456789".encode())
            started = time.time()
            reply = read_all(s).decode()
        assert reply.startswith("HTTP/1.1 408"), reply[:200]
        assert 0.8 < time.time() - started < 4
    finally:
        server.stop()


def test_idle_connection_is_closed(pushgate_bin, tmp_path, broker):
    server = limited(pushgate_bin, tmp_path, broker)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            started = time.time()
            assert read_all(s, timeout=10) == b""     # closed by the server, nothing sent
            assert 1.5 < time.time() - started < 6
    finally:
        server.stop()
