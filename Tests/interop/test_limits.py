"""Front-end limits that keep slow or hostile clients from holding resources."""
import os
import re
import subprocess
import socket
import time

import httpx

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


def test_http1_pipelined_requests_are_all_answered_in_order(server):
    """Issue 15 #4: two requests in one write on one HTTP/1.1 connection: both answered, in order,
    and the connection stays usable; nothing is done without an answer."""
    import socket
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        request = b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        s.sendall(request + request + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        data = b""
        while data.count(b"HTTP/1.1 ") < 3:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"201", b"201", b"200"]
    assert data.count(b"Location: ") == 2


def test_head_is_get_without_a_body(server):
    """Issue 15 #7: HEAD /healthz is 200 with the GET's headers and no body."""
    response = httpx.head(f"{server.url}/healthz")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) == len(httpx.get(f"{server.url}/healthz").content)


def test_connection_limit(pushgate_bin, tmp_path, broker):
    """server.max_connections: connections beyond it are closed as they arrive; once one closes,
    a new one is served."""
    server = Server(pushgate_bin, tmp_path, broker, server_extra="  max_connections: 3\n")
    try:
        time.sleep(0.5)          # the start-up health checks' connections are gone
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        for s in held:           # each one admitted and served (keep-alive)
            s.settimeout(3)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection(("127.0.0.1", server.port))
        extra.settimeout(3)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(1024)
        except ConnectionResetError:
            answer = b""
        assert answer == b""                               # closed without an answer
        extra.close()
        held.pop().close()
        time.sleep(0.3)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        for s in held:
            s.close()
    finally:
        server.stop()


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_pauses_accepts(pushgate_bin, tmp_path, broker):
    """Out of descriptors (EMFILE), the server stops accepting for a moment instead of retrying
    accept(2) in a tight loop, says why once, and serves again as soon as descriptors free up."""
    server = Server(pushgate_bin, tmp_path, broker)
    pid = server.process.pid
    try:
        time.sleep(0.5)
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        # Only the soft limit moves: raising a hard limit again needs CAP_SYS_RESOURCE.
        soft = subprocess.run(["prlimit", f"--pid={pid}", "--nofile", "--output=SOFT", "--noheadings"],
                              check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={in_use + 4}:"], check=True)
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(24)]
        time.sleep(0.5)                                  # the first few accepted, then EMFILE
        before = _cpu_seconds(pid)
        time.sleep(2)
        busy = _cpu_seconds(pid) - before
        assert busy < 0.4, f"{busy:.2f} s of CPU in 2 s while out of descriptors: accept loop spins"
        log = server.log.read_text()
        assert log.count("cannot accept connections") == 1, log[-2000:]
        assert "ulimit -n" in log
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft}:"], check=True)
        for s in held:
            s.close()
        deadline = time.time() + 5
        while True:
            try:
                assert httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
                break
            except httpx.HTTPError:
                assert time.time() < deadline, "not serving again after descriptors came back"
                time.sleep(0.1)
    finally:
        server.stop()


def test_http1_connection_close_is_honoured(pushgate_bin, tmp_path, broker):
    """An HTTP/1.1 answer that says `Connection: close` (asked for by the client, after a request
    that cannot be parsed, or after a refusal that leaves the rest of the request unread) is
    followed by the close, not by the idle timeout."""
    server = limited(pushgate_bin, tmp_path, broker)          # idle timeout 2 s
    try:
        _check_closes_at_once(server)
    finally:
        server.stop()


def _check_closes_at_once(server):
    for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    b"POST /p/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    b"\x00\x01 garbage that is no request line\r\n\r\n",
                    b"POST /subscribe HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 4000 + b"\r\nContent-Length: 0\r\n\r\n",
                    b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(request)
        started = time.time()
        answer = read_all(sock, timeout=5)         # until the server closes
        sock.close()
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
        assert time.time() - started < 1, f"closed only after {time.time() - started:.1f} s: {answer[:80]!r}"


def test_http2_oversized_header_block_is_431_for_that_request_only(pushgate_bin, tmp_path, broker):
    """Over HTTP/2, a request whose headers exceed `max_header_bytes` gets 431 (errno 127) on its
    own stream; the connection and its other requests carry on."""
    import h2.config
    import h2.connection
    import h2.events
    server = limited(pushgate_bin, tmp_path, broker)          # max_header_bytes: 2048
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        # The server's SETTINGS acknowledged first: its header list limit applies from then on.
        sock.settimeout(5)
        while not any(isinstance(e, h2.events.RemoteSettingsChanged) for e in conn.receive_data(sock.recv(65535))):
            pass
        base = [(":scheme", "http"), (":authority", f"127.0.0.1:{server.port}")]
        conn.send_headers(1, [(":method", "POST"), (":path", "/subscribe"), *base, ("x-padding", "a" * 4000)], end_stream=True)
        conn.send_headers(3, [(":method", "GET"), (":path", "/healthz"), *base], end_stream=True)
        sock.sendall(conn.data_to_send())
        statuses, bodies, ended = {}, {1: b"", 3: b""}, set()
        deadline = time.time() + 5
        while len(ended) < 2 and time.time() < deadline:
            sock.settimeout(max(0.05, deadline - time.time()))
            data = sock.recv(65535)
            assert data, f"connection closed; answers so far {statuses}"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    statuses[event.stream_id] = int(dict(event.headers)[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise AssertionError(f"GOAWAY {event.error_code}")
            sock.sendall(conn.data_to_send())
        assert statuses == {1: 431, 3: 200}, statuses
        assert b'"errno":127' in bodies[1]
        sock.close()
    finally:
        server.stop()


def test_slowloris_header_trickle_is_cut_at_the_request_timeout(pushgate_bin, tmp_path, broker):
    """One header byte every 0.3 s never lets the idle timeout (2 s) fire; the head must still be
    complete within request_timeout_seconds (1 s) of its first byte, or the connection closes.
    A keep-alive connection that finishes its requests in time is untouched."""
    server = limited(pushgate_bin, tmp_path, broker)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST /subscribe HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed_after = None
        for byte in b"X-Slow: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(0.3)
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
        sock.close()
        assert closed_after is not None and closed_after < 2.5, f"still open after {time.monotonic() - started:.1f} s"

        # Requests that arrive in time on a kept-alive connection, spaced over more than the
        # request timeout, all succeed.
        with httpx.Client() as client:
            for _ in range(3):
                assert client.get(f"{server.url}/healthz").status_code == 200
                time.sleep(0.6)
    finally:
        server.stop()
