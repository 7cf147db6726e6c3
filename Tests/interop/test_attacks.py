"""The quick part of the fault-and-attack suite (issue 15): each attack against a real server,
with its pass criterion. The longer runs and the summary table are `make soak`."""
import signal
import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events
import httpx

from attacks import (ACK, CONTINUATION, DATA, GOAWAY, END_HEADERS, END_STREAM, HEADERS, PING, PREFACE, RST_STREAM, SETTINGS,
                     FrameReader, RapidResetStats, frame, h2_connect, rapid_reset, under_attack)
from harness import Device, Server


def attack_server(pushgate_bin, tmp_path, broker, server_extra="", log_level="warning"):
    """A server without the per-subscription push limit (the worst case: nothing but the
    connection-level defences stand in the attacker's way)."""
    return Server(pushgate_bin, tmp_path, broker, log_level=log_level, server_extra=server_extra,
                  extra="rate_limits:\n  pushes_per_subscription: off\n")


def closed_within(sock: socket.socket, seconds: float, keep_sending: bytes = b"", every: float = 0.2) -> float | None:
    """Seconds until the server closed `sock` (reading and discarding), sending `keep_sending`
    every `every` s meanwhile; None if it was still open after `seconds`."""
    started = time.monotonic()
    next_send = started
    while time.monotonic() - started < seconds:
        try:
            if keep_sending and time.monotonic() >= next_send:
                sock.sendall(keep_sending)
                next_send += every
            sock.settimeout(0.05)
            if sock.recv(65535) == b"":
                return time.monotonic() - started
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    return None


def test_rapid_reset_is_cancelled_and_bounded(pushgate_release_bin, tmp_path, broker):
    """Issue 15 #1: HEADERS + DATA(END_STREAM) + RST_STREAM, a thousand per fresh connection, as
    fast as one client sends them. Reset requests are cancelled before they publish; each
    connection is cut after 50 resets; a legitimate client's pushes all succeed, fast."""
    server = attack_server(pushgate_release_bin, tmp_path, broker)
    try:
        legit = server.subscribe()
        victim = server.subscribe()
        legit_device = Device(broker, legit["mqtt_topic"]).connect()
        victim_device = Device(broker, victim["mqtt_topic"]).connect()
        path = "/" + victim["endpoint"].split("/", 3)[3]
        stats = RapidResetStats()
        result = under_attack("rapid reset", server.process.pid, legit["endpoint"],
                              lambda stop: rapid_reset(server.port, path, f"127.0.0.1:{server.port}", stop, stats), seconds=4)
        assert stats.connections > 20, stats                  # the server keeps cutting connections
        assert result.legit.created == len(result.legit.statuses) > 50, result.legit.statuses
        assert result.p99_ms < 250, f"legitimate p99 {result.p99_ms:.0f} ms under attack"
        assert result.memory_ratio < 2.5, f"memory {result.idle_kb} KiB idle, {result.peak_kb} KiB peak"
        time.sleep(0.5)
        # Reset before they ran: (almost) none of the attacker's requests reached the broker.
        assert len(victim_device.messages) <= stats.connections, (len(victim_device.messages), stats)
        legit_device.wait_messages(len(result.legit.statuses), timeout=10)
        assert httpx.post(legit["endpoint"], headers={"TTL": "60"}).status_code == 201
    finally:
        server.stop()


def test_connection_error_goaway_then_close(pushgate_bin, tmp_path, broker):
    """Issue 15 #6, RFC 9113 §5.4.1: after the GOAWAY for a connection error (here DATA on stream
    0, a PROTOCOL_ERROR) the server closes the TCP connection, even while the peer keeps sending
    PINGs (it used to stay open forever)."""
    server = attack_server(pushgate_bin, tmp_path, broker)
    try:
        sock = h2_connect(server.port)
        sock.sendall(frame(DATA, 0, 0, b"x"))
        ping = frame(PING, 0, 0, b"12345678")
        after = closed_within(sock, 5, keep_sending=ping)
        assert after is not None and after < 2, "the connection stayed open after GOAWAY"
        sock.close()
        # The GOAWAY itself was not discarded by the close.
        sock = h2_connect(server.port)
        sock.sendall(frame(DATA, 0, 0, b"x"))
        received = b""
        sock.settimeout(3)
        try:
            while chunk := sock.recv(65535):
                received += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        sock.close()
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        events = conn.receive_data(received)
        assert any(isinstance(e, h2.events.ConnectionTerminated) and e.error_code == 1 for e in events), events
    finally:
        server.stop()


def test_http2_header_trickle_is_cut_at_the_request_timeout(pushgate_bin, tmp_path, broker):
    """Issue 15 #6: HEADERS without END_HEADERS, then CONTINUATION frames one every 0.3 s, keep
    the idle timeout (2 s) from firing; the block must end within request_timeout_seconds (1 s)."""
    server = attack_server(pushgate_bin, tmp_path, broker,
                           server_extra="  request_timeout_seconds: 1\n  idle_timeout_seconds: 2\n")
    try:
        sock = h2_connect(server.port)
        import hpack
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/healthz")])
        sock.sendall(frame(HEADERS, 0, 1, block))
        after = closed_within(sock, 5, keep_sending=frame(CONTINUATION, 0, 1, b""), every=0.3)
        assert after is not None and after < 2.5, "a trickled header block kept the connection open"
        sock.close()
    finally:
        server.stop()


def test_zero_window_stream_is_reset(pushgate_bin, tmp_path, broker):
    """Issue 15 #6: a client whose stream window is zero (SETTINGS_INITIAL_WINDOW_SIZE 0) never
    takes its response body; the stream is reset (CANCEL) after request_timeout_seconds instead
    of holding the stream and its bytes forever, and the connection stays usable."""
    import hpack
    server = attack_server(pushgate_bin, tmp_path, broker,
                           server_extra="  request_timeout_seconds: 1\n  idle_timeout_seconds: 30\n")
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 0)))   # INITIAL_WINDOW_SIZE = 0
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/healthz")])
        sock.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        reader, started, reset_at, data_seen = FrameReader(sock), time.monotonic(), None, False
        for kind, _, stream, payload in reader.frames(5):
            data_seen |= kind == DATA and stream == 1
            if kind == RST_STREAM and stream == 1:
                reset_at = time.monotonic() - started
                assert struct.unpack(">I", payload)[0] == 0x8                        # CANCEL
                break
        assert not reader.closed, "the connection was closed instead of the stream"
        assert not data_seen and reset_at is not None and 0.8 < reset_at < 3, reset_at
        # The connection still serves: a window opened on a new stream gets its answer.
        sock.sendall(frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 65535)))
        sock.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 3, hpack.Encoder().encode(
            [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/healthz")])))
        assert any(kind == DATA and stream == 3 for kind, _, stream, _ in reader.frames(3))
        sock.close()
    finally:
        server.stop()


def test_graceful_shutdown_drains_with_goaway(pushgate_bin, tmp_path, broker):
    """Issue 15 #12: SIGTERM under load. The server stops accepting, sends GOAWAY (NO_ERROR) on
    HTTP/2 connections, answers what is in flight and exits well before its 10 s deadline;
    every push answered 201 is delivered."""
    server = attack_server(pushgate_bin, tmp_path, broker, log_level="debug")
    sub = server.subscribe()
    device = Device(broker, sub["mqtt_topic"]).connect()
    created, stop = [0], threading.Event()

    def pusher(http2: bool):
        with httpx.Client(http1=not http2, http2=http2, timeout=15) as client:
            while not stop.is_set():
                try:
                    if client.post(sub["endpoint"], headers={"TTL": "60"}).status_code == 201:
                        created[0] += 1
                except httpx.HTTPError:
                    return

    # An idle HTTP/2 connection watches for the GOAWAY (answering the PING of its two steps).
    watcher = h2_connect(server.port)
    threads = [threading.Thread(target=pusher, args=(http2,)) for http2 in (True, True, False, False)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    goaways = []
    for kind, flags, _, payload in FrameReader(watcher).frames(5):
        if kind == PING and not flags & ACK:
            watcher.sendall(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            goaways.append(struct.unpack(">II", payload[:8]))          # (last stream id, error code)
    code = server.process.wait(15)
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(5)
    # NO_ERROR: a graceful close. (A frame the client sends after the last GOAWAY, here a late
    # SETTINGS ACK, can still draw NIO's PROTOCOL_ERROR GOAWAY just before the close.)
    assert goaways and goaways[0][1] == 0, goaways
    assert code == 0 and elapsed < 5, (code, elapsed)
    assert "still open at the shutdown deadline" not in server.log.read_text()
    assert created[0] > 10
    device.wait_messages(created[0], timeout=10)


def flood_then_goaway(port: int, flood: bytes) -> tuple[int | None, float | None]:
    """Sends `flood` on a fresh HTTP/2 connection without reading; returns the GOAWAY error code
    the server sent and when it closed the connection (None: still open after 5 s)."""
    sock = h2_connect(port)
    try:
        sock.sendall(flood)
    except OSError:
        pass
    started, code = time.monotonic(), None
    reader = FrameReader(sock)
    for kind, _, _, payload in reader.frames(5):
        if kind == GOAWAY:
            code = struct.unpack(">I", payload[4:8])[0]
    closed = time.monotonic() - started if reader.closed else None
    sock.close()
    return code, closed


def test_floods_get_goaway_and_the_connection_closes(pushgate_bin, tmp_path, broker):
    """The floods that already got GOAWAY (issue 15: "much held") keep getting it, and now the
    connection is closed too; the server meanwhile serves others."""
    import hpack
    server = attack_server(pushgate_bin, tmp_path, broker)
    try:
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/healthz")])
        floods = {
            "PING flood": frame(PING, 0, 0, b"12345678") * 5_000,
            "SETTINGS flood": frame(SETTINGS, 0, 0) * 5_000,
            "CONTINUATION flood": frame(HEADERS, 0, 1, block) + frame(CONTINUATION, 0, 1, b"") * 5_000,
            "empty DATA flood": frame(HEADERS, END_HEADERS, 1, hpack.Encoder().encode(
                [(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", "/subscribe")]))
                + frame(DATA, 0, 1, b"") * 5_000,
        }
        for name, flood in floods.items():
            code, closed = flood_then_goaway(server.port, flood)
            assert code is not None and code != 0, f"{name}: no error GOAWAY ({code})"
            assert closed is not None and closed < 3, f"{name}: the connection stayed open"
            assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
