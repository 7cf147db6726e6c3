"""Pushgate's benchmark: every figure beside a ceiling measured in the same run.

Run through `make bench` (scripts/bench.sh builds the release binaries and the C tools first).
One fresh mosquitto and one Pushgate (release), both on free 127.0.0.1 ports, then:

  1. ceiling     the broker alone: C libmosquitto publishers -> broker -> one QoS 1 subscriber,
                 4096-byte payloads; messages/s delivered, in several client shapes (two processes
                 each driven by mosquitto_loop; one hand-written poll() loop driving 1, 2 or 4
                 publishers and the subscriber) — the best is the ceiling, and the table says which
                 won — with mosquitto's own CPU per message.
  2. push        h2load (HTTP/2 h2c, many streams) POSTs 4096-byte aes128gcm bodies with TTL and
                 one VAPID header reused for the run -> Pushgate -> broker -> the same subscriber;
                 registry of 1,000 subscriptions. Pushes/s delivered; POST->201 percentiles over
                 every request (h2load's log); POST->delivery percentiles from probe pushes sent
                 to a second subscription during the load (send time vs. the subscriber's receive
                 time, matched by message id); the count check (201s == delivered); Pushgate's own
                 CPU per push (utime + stime from /proc over the run). The same over HTTP/1.1
                 (h2load --h1, 16 connections).
  3. fan-out     one push to a 10,000-member list -> deliveries/s until the 201 (which Pushgate
                 sends after the broker acknowledged every copy), beside MQTTBridge publishing the
                 same 10,000 copies to 10,000 topics in one batch; and one push to an admin route
                 (one broker publish) with 1,000 subscribed devices until the last device has it, beside the
                 broker fanning out one publish of its own to the same 1,000 devices; Pushgate's
                 CPU per delivered copy and per route push.
  4. scale       1,000,000 subscriptions (created in bulk with `pushgate admin
                 create-subscriptions --with-sets`, each in a set as POST /subscribe makes them: a
                 million durable HTTP subscribes would take longer than the whole benchmark),
                 restart to ready (the index then still being read in: a short push run
                 answered from the database meanwhile), the time until the index is in,
                 resident memory per subscription, the push run of 2. again.

Every loop is bounded by count and time; every process is killed by PID at the end. Results:
a Markdown table and JSON in the work directory (and on standard output).
"""
import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import http_ece
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# The interop tests' helpers: ports, bulk subscriptions, VAPID keys.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "interop"))
from harness import create_subscriptions, free_port, registry_stats, vapid_keys, wait_for_port  # noqa: E402

SIZE = 4096


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """The process's own CPU so far (utime + stime from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """The CPU of this script's children reaped so far (h2load, the C subscriber): they exit
    before they can be read from /proc, so they are counted as the kernel reaps them."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_seconds(pid: int) -> dict:
    """The process's CPU so far per kind of thread: each thread's utime + stime from
    /proc/<pid>/task/<tid>/stat, summed by its name with the numbers taken out (NIO's event loops
    `NIO-ELT-0-#0`, `NIO-ELT-0-#1` are one kind)."""
    kinds: dict = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue                                # the thread ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        kind = "".join(c for c in name if not c.isdigit()).rstrip("-#_ ") or name
        fields = stat.rsplit(")", 1)[1].split()
        kinds[kind] = kinds.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return kinds


def per_thread_us(before: dict, after: dict, operations: int) -> dict:
    """µs of CPU per operation by kind of thread between two `thread_cpu_seconds` readings
    (threads that ended in between are missing from `after`: the total says what they took)."""
    split = {kind: (after[kind] - before.get(kind, 0.0)) * 1e6 / operations for kind in after}
    return {kind: round(us, 1) for kind, us in sorted(split.items(), key=lambda item: -item[1]) if us >= 0.5}


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def percentiles(sorted_values) -> dict:
    """p50, p99 and p99.9 of `sorted_values`."""
    return {"p50": percentile(sorted_values, 0.5), "p99": percentile(sorted_values, 0.99),
            "p999": percentile(sorted_values, 0.999)}


# The client shapes tried for the ceiling; the best one is the broker's ceiling. A weak client
# would lower the ceiling and flatter every ratio against it.
CEILING_SHAPES = [("two processes, mosquitto_loop", None), ("one poll() loop, 1 publisher", 1),
                  ("one poll() loop, 2 publishers", 2), ("one poll() loop, 4 publishers", 4)]


def honest_ceiling(tool: str, port: int, count: int, broker_pid: int, subscriber, delivered_rate) -> dict:
    """The broker's ceiling: every client shape of the C tool in turn, `count` messages each; the
    best rate, which shape won, and the broker's own CPU per message in each shape.
    `subscriber(topic, count)` and `delivered_rate(process, count)` run the two-process shape's
    subscriber."""
    shapes = {}
    for name, publishers in CEILING_SHAPES:
        broker_cpu = cpu_seconds(broker_pid)
        clients_cpu = children_cpu_seconds()
        extra = {}
        if publishers is None:
            sub = subscriber("bench/ceiling", count)
            subprocess.run([tool, "pub", "127.0.0.1", str(port), "bench/ceiling", str(count), str(SIZE), "1000"],
                           check=True, capture_output=True, timeout=300)
            # The publisher alone (a process of its own here): what libmosquitto costs to publish
            # a message, beside the CPU per copy of Pushgate's own MQTT client.
            extra["publisher_cpu_us_per_msg"] = (children_cpu_seconds() - clients_cpu) * 1e6 / count
            rate = delivered_rate(sub, count)
        else:
            out = subprocess.run([tool, "poll", "127.0.0.1", str(port), "bench/ceiling", str(count), str(SIZE), "1000",
                                  str(publishers)], check=True, capture_output=True, text=True, timeout=300).stdout.split()
            rate = count / float(out[out.index("in") + 1])
        shapes[name] = {"msgs_per_s": rate, "broker_cpu_us_per_msg": (cpu_seconds(broker_pid) - broker_cpu) * 1e6 / count,
                        # The C client's CPU: publishers and subscriber together.
                        "client_cpu_us_per_msg": (children_cpu_seconds() - clients_cpu) * 1e6 / count, **extra}
    best = max(shapes, key=lambda name: shapes[name]["msgs_per_s"])
    return {"shapes": shapes, "best": best, "msgs_per_s": shapes[best]["msgs_per_s"],
            "broker_cpu_us_per_msg": shapes[best]["broker_cpu_us_per_msg"]}


class Processes:
    """Every child process, killed by PID on exit."""

    def __init__(self):
        self.children = []

    def start(self, args, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(args, **kwargs)
        self.children.append(process)
        return process

    def kill_all(self):
        for process in self.children:
            if process.poll() is None:
                process.kill()
                process.wait()


def start_mosquitto(processes: Processes, work: Path, port: int) -> subprocess.Popen:
    """A mosquitto for the benchmark on 127.0.0.1:`port`: limits raised so the broker, not its
    defaults, is what is measured, and `set_tcp_nodelay` on as docs/mqtt.md asks of a broker
    (until session 11 it was off here: a list push's chunks then waited for PUBACKs that
    mosquitto held back for a delayed ACK, 1–16 s for a 100,000-copy batch instead of 0.8)."""
    conf = work / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 65535\n"
                    f"max_queued_messages 1000000\npersistence false\nmax_connections -1\nset_tcp_nodelay true\n")
    broker = processes.start(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return broker


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.processes = Processes()
        self.results = {"count": args.count, "size": SIZE}
        self.broker_port = free_port()
        self.http_port = free_port()
        self.origin = f"http://127.0.0.1:{self.http_port}"
        self.database = self.work / "registry.sqlite"
        self.vapid, self.vapid_public = vapid_keys()
        self.pushgate = None
        self.metrics_port = free_port()

    # --- processes ---------------------------------------------------------------------

    def start_broker(self):
        self.broker = start_mosquitto(self.processes, self.work, self.broker_port)

    def write_config(self, metrics: bool = False):
        (self.work / "pushgate.yaml").write_text((f'metrics:\n  listen: "127.0.0.1:{self.metrics_port}"\n' if metrics else "") + f"""
server:
  listen: "127.0.0.1:{self.http_port}"
  public_url: "{self.origin}"
  max_concurrent_streams: 1000
mqtt:
  url: "mqtt://127.0.0.1:{self.broker_port}"
  client_id: "pushgate-bench"
storage:
  path: "{self.database}"
logging:
  level: "warning"
lists:
  max_deliveries_per_second_per_key: 10000000
  max_deliveries_per_second: 10000000
rate_limits:
  pushes_per_subscription: off
routes:
  - name: bench-fleet
    topic: "fleet/bench"
    vapid_keys: ["{self.vapid_public}"]
""")

    def start_pushgate(self, env: dict | None = None) -> float:
        """Starts Pushgate (with `env` added to the environment); returns seconds from spawn until
        /readyz answers 200."""
        started = self.spawned_at = time.monotonic()
        self.pushgate = self.processes.start([self.args.pushgate, "serve", "--config", str(self.work / "pushgate.yaml")],
                                             stdout=open(self.work / "pushgate.log", "ab"), stderr=subprocess.STDOUT,
                                             env={**os.environ, **(env or {})})
        deadline = started + 120
        while time.monotonic() < deadline:
            assert self.pushgate.poll() is None, (self.work / "pushgate.log").read_text()[-2000:]
            try:
                if httpx.get(f"{self.origin}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        raise TimeoutError("pushgate did not become ready")

    def registry_state(self) -> str:
        """`filling` while the index is read in after a start, then `ready` (GET /readyz)."""
        return httpx.get(f"{self.origin}/readyz", timeout=5).json().get("registry", "?")

    def stop_pushgate(self):
        self.pushgate.send_signal(signal.SIGTERM)
        try:
            self.pushgate.wait(30)
        except subprocess.TimeoutExpired:
            self.pushgate.kill()
            self.pushgate.wait()

    # --- registry ------------------------------------------------------------------------

    def fill_registry(self, total: int, rows: bool = True) -> list:
        """Brings the stopped server's registry to `total` subscriptions with `pushgate admin
        create-subscriptions`; returns the new ones as (push token, topic id). Without rows (the
        scale run) each is in a set of its own and restricted to the bench's application server
        key, as POST /subscribe makes a web-push library's subscriptions: a registry of
        unrestricted subscriptions without sets needs less memory, and would flatter the figure."""
        config = self.work / "pushgate.yaml"
        have = registry_stats(self.args.pushgate, config)["subscriptions"]
        return create_subscriptions(self.args.pushgate, config, total - have, rows=rows, with_sets=not rows,
                                    restricted_to=None if rows else self.vapid_public)

    # --- payloads -----------------------------------------------------------------------

    def make_body(self) -> Path:
        """A realistic RFC 8291 message of exactly 4096 bytes (86-byte header, 3993 plaintext)."""
        device = ec.generate_private_key(ec.SECP256R1())
        body = http_ece.encrypt(os.urandom(3993), salt=os.urandom(16), private_key=ec.generate_private_key(ec.SECP256R1()),
                                dh=device.public_key().public_bytes(serialization.Encoding.X962,
                                                                    serialization.PublicFormat.UncompressedPoint),
                                auth_secret=os.urandom(16), version="aes128gcm")
        assert len(body) == SIZE, len(body)
        path = self.work / "body.bin"
        path.write_bytes(body)
        return path

    def authorization(self) -> str:
        return self.vapid.sign({"aud": self.origin, "sub": "mailto:bench@example.com"})["Authorization"]

    # --- measurements -------------------------------------------------------------------

    def subscriber(self, topic_filter: str, count: int, log: Path | None = None) -> subprocess.Popen:
        args = [self.args.ceiling, "sub", "127.0.0.1", str(self.broker_port), topic_filter, str(count)]
        if log:
            args.append(str(log))
        process = self.processes.start(args, stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        return process

    @staticmethod
    def delivered_rate(subscriber: subprocess.Popen, count: int, timeout: float = 150) -> float:
        out, _ = subscriber.communicate(timeout=timeout)
        words = out.split()
        received, seconds = int(words[words.index("received") + 1]), float(words[words.index("in") + 1])
        assert received == count and subscriber.returncode == 0, f"subscriber: {out}"
        return count / seconds

    def ceiling(self) -> dict:
        return honest_ceiling(self.args.ceiling, self.broker_port, self.args.count, self.broker.pid, self.subscriber,
                              self.delivered_rate)

    def push_run(self, load: tuple, probe: tuple, body: Path, label: str, http1: bool = False, count: int | None = None) -> dict:
        """h2load against the `load` subscription while probes go to `probe`; see the module doc.
        `http1`: HTTP/1.1 (16 connections, one request each at a time) instead of h2c; `count`
        pushes (default --count)."""
        count = count or self.args.count
        load_token, load_topic = load
        probe_token, probe_topic = probe
        sub = self.subscriber(f"webpush/{load_topic}/#", count)
        probe_log = self.work / f"probe-{label}.log"
        probe_sub = self.subscriber(f"webpush/{probe_topic}/#", 10 ** 9, log=probe_log)
        authorization = self.authorization()
        h2log = self.work / f"h2load-{label}.log"
        h2log.unlink(missing_ok=True)              # h2load appends
        shape = ["--h1", "-c", "16", "-m", "1"] if http1 else ["-c", str(self.args.clients), "-m", str(self.args.streams)]
        cpu_before = cpu_seconds(self.pushgate.pid)
        threads_before = thread_cpu_seconds(self.pushgate.pid)
        broker_before = cpu_seconds(self.broker.pid)
        children_before = children_cpu_seconds()
        h2load = self.processes.start(
            ["h2load", "-n", str(count), *shape, "-d", str(body),
             "-H", "TTL: 60", "-H", "Content-Encoding: aes128gcm", "-H", f"Authorization: {authorization}",
             f"--log-file={h2log}", f"{self.origin}/p/{load_token}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        profiler = None
        if self.args.profile and label == "1k":
            profiler = self.processes.start(["perf", "record", "-F", "1999", "-g", "-p", str(self.pushgate.pid),
                                             "-o", str(self.work / "perf.data")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Probes: a second h2load, one stream, paced, to its own subscription. Serial requests are
        # published and delivered in order, so the k-th probe is the k-th message its subscriber
        # logs: POST->delivery is that receive time minus the k-th start time.
        time.sleep(0.3)
        probe_h2log = self.work / f"h2load-probe-{label}.log"
        probe_h2log.unlink(missing_ok=True)
        prober = subprocess.run(
            ["h2load", "-n", str(self.args.probes), "-c", "1", "-m", "1", "--rps", str(self.args.probe_rate),
             "-d", str(body), "-H", "TTL: 60", "-H", "Content-Encoding: aes128gcm", "-H", f"Authorization: {authorization}",
             f"--log-file={probe_h2log}", f"{self.origin}/p/{probe_token}"],
            capture_output=True, text=True, timeout=300)
        h2out, _ = h2load.communicate(timeout=300)
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        load_cpu = children_cpu_seconds() - children_before   # both h2loads, reaped
        rate = self.delivered_rate(sub, count)
        subscriber_cpu = children_cpu_seconds() - children_before - load_cpu
        time.sleep(0.3)                             # the last probes' deliveries
        cpu = cpu_seconds(self.pushgate.pid) - cpu_before
        threads_after = thread_cpu_seconds(self.pushgate.pid)
        broker_cpu = cpu_seconds(self.broker.pid) - broker_before
        probe_sub.send_signal(signal.SIGTERM)
        probe_sub.wait()

        statuses, latencies = [], []
        for line in h2log.read_text().splitlines():
            fields = line.split()
            statuses.append(int(fields[1]))
            latencies.append(int(fields[2]) / 1000)
        latencies.sort()
        load_start = min(int(line.split()[0]) for line in h2log.read_text().splitlines())
        load_end = max(int(line.split()[0]) + int(line.split()[2]) for line in h2log.read_text().splitlines())
        probe_requests = sorted(tuple(map(int, line.split())) for line in probe_h2log.read_text().splitlines())
        probe_received = [int(line.split()[1]) for line in probe_log.read_text().splitlines()]
        assert prober.returncode == 0 and all(status == 201 for _, status, _ in probe_requests), prober.stdout
        matched = len(probe_requests) == len(probe_received)
        delivery = sorted((received - started) / 1000 for (started, _, _), received in zip(probe_requests, probe_received)
                          if load_start <= started and started + 1 <= load_end) if matched else []
        created = statuses.count(201)
        result = {
            "pushes_per_s": rate,
            # The server's own CPU over the run, per push answered (load and probes).
            "cpu_us_per_push": cpu * 1e6 / (created + len(probe_requests)),
            "cpu_us_per_push_by_thread": per_thread_us(threads_before, threads_after, created + len(probe_requests)),
            # mosquitto's CPU over the same run, per push (its work for Pushgate and the subscriber).
            "broker_cpu_us_per_push": broker_cpu * 1e6 / (created + len(probe_requests)),
            # The load generator's (h2load: the load and the probes) and the subscriber's CPU,
            # per push: with Pushgate's and mosquitto's, what one push costs the two cores.
            "load_cpu_us_per_push": load_cpu * 1e6 / (created + len(probe_requests)),
            "subscriber_cpu_us_per_push": subscriber_cpu * 1e6 / count,
            "created": created, "delivered": count, "count_check": created == count,
            "post_201_ms": percentiles(latencies),
            "post_delivery_ms": {**percentiles(delivery), "samples": len(delivery),
                                 "probes_sent": len(probe_requests), "probes_delivered": len(probe_received)},
            "h2load": [line.strip() for line in h2out.splitlines() if line.startswith(("requests:", "finished in"))],
        }
        return result

    def floor_run(self, body: Path, http1: bool, paced_rate: float | None = None) -> dict:
        """The same h2load shape as a push run against `pushgate-http-floor` (Pushgate's
        HTTPServer with a responder that answers 201 at once): the HTTP layer's CPU per request,
        the floor under every push. With `paced_rate`, then the paced run's load (same rate,
        connections and streams) for POST->201 with nothing behind the HTTP layer."""
        port = free_port()
        floor = self.processes.start([self.args.http_floor, str(port)], stdout=subprocess.PIPE, text=True)
        assert "listening" in floor.stdout.readline()
        shape = ["--h1", "-c", "16", "-m", "1"] if http1 else ["-c", str(self.args.clients), "-m", str(self.args.streams)]
        before = cpu_seconds(floor.pid)
        out = subprocess.run(["h2load", "-n", str(self.args.count), *shape, "-d", str(body), "-H", "TTL: 60",
                              "-H", "Content-Encoding: aes128gcm", "-H", f"Authorization: {self.authorization()}",
                              f"http://127.0.0.1:{port}/p/x"], capture_output=True, text=True, timeout=300).stdout
        cpu = cpu_seconds(floor.pid) - before
        paced = None
        if paced_rate:
            log_file = self.work / "h2load-floor-paced.log"
            self.paced_h2load(f"http://127.0.0.1:{port}/p/x", body, paced_rate, int(paced_rate * 8), log_file)
            latencies = sorted(int(line.split()[2]) / 1000 for line in log_file.read_text().splitlines())
            paced = {"offered_per_s": paced_rate, "requests": len(latencies), "post_201_ms": percentiles(latencies)}
        floor.kill()
        floor.wait()
        created = int(re.search(r"status codes: (\d+) 2xx", out).group(1))
        rate = float(re.search(r"finished in [0-9.]+\w+, ([0-9.]+) req/s", out).group(1))
        assert created == self.args.count, out
        return {"cpu_us_per_request": cpu * 1e6 / created, "requests_per_s": rate, "paced": paced}

    def paced_run(self, load: tuple, body: Path, rate: float, seconds: float = 8) -> dict:
        """POST->201 latency at a fixed offered rate (h2c, the push run's connections and streams,
        each connection paced by h2load --rps) for `seconds`; every push counted delivered."""
        token, topic = load
        count = int(rate * seconds)
        sub = self.subscriber(f"webpush/{topic}/#", count)
        log = self.work / "h2load-paced.log"
        cpu_before = cpu_seconds(self.pushgate.pid)
        self.paced_h2load(f"{self.origin}/p/{token}", body, rate, count, log)
        delivered = self.delivered_rate(sub, count)
        cpu = cpu_seconds(self.pushgate.pid) - cpu_before
        rows = [line.split() for line in log.read_text().splitlines()]
        latencies = sorted(int(row[2]) / 1000 for row in rows)
        return {"offered_per_s": rate, "pushes": count, "created": sum(1 for row in rows if row[1] == "201"),
                "delivered_per_s": delivered, "cpu_us_per_push": cpu * 1e6 / count, "post_201_ms": percentiles(latencies)}

    def paced_h2load(self, url: str, body: Path, rate: float, count: int, log: Path):
        """`count` pushes to `url` at `rate` over the push run's h2c connections and streams
        (each connection paced by h2load --rps); every request's status and time in `log`."""
        log.unlink(missing_ok=True)             # h2load appends
        subprocess.run(["h2load", "-n", str(count), "-c", str(self.args.clients), "-m", str(self.args.streams),
                        "--rps", str(max(1, round(rate / self.args.clients))), "-d", str(body), "-H", "TTL: 60",
                        "-H", "Content-Encoding: aes128gcm", "-H", f"Authorization: {self.authorization()}",
                        f"--log-file={log}", url], check=True, capture_output=True, timeout=300)

    def allocated(self) -> int:
        """`pushgate_process_allocations_total` (sampled once a second: wait before reading)."""
        time.sleep(1.2)
        for line in httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text.splitlines():
            if line.startswith("pushgate_process_allocations_total "):
                return int(float(line.split()[1]))
        raise RuntimeError("no allocation count: is the interposer preloaded?")

    def allocation_run(self, load: tuple, body: Path, http1: bool, count: int = 20_000) -> float:
        """Heap allocations of the whole server process per push, over `count` pushes."""
        token, topic = load
        sub = self.subscriber(f"webpush/{topic}/#", count)
        shape = ["--h1", "-c", "16", "-m", "1"] if http1 else ["-c", str(self.args.clients), "-m", str(self.args.streams)]
        before = self.allocated()
        subprocess.run(["h2load", "-n", str(count), *shape, "-d", str(body), "-H", "TTL: 60", "-H", "Content-Encoding: aes128gcm",
                        "-H", f"Authorization: {self.authorization()}", f"{self.origin}/p/{token}"],
                       check=True, capture_output=True, timeout=300)
        self.delivered_rate(sub, count)
        return (self.allocated() - before) / count

    def list_fanout(self, members: list, body: Path) -> dict:
        document = {f"{self.origin}/p/{token}": {} for token, _ in members}
        created = httpx.post(f"{self.origin}/lists", content=json.dumps(document), timeout=60, headers={
            "Content-Type": "application/push-aggregation+json", "Authorization": self.authorization()})
        assert created.status_code == 201, created.text
        endpoint = created.json()["endpoint"]
        body_bytes = body.read_bytes()
        times, cpu = [], 0.0
        profiler = None
        if self.args.profile_fanout:
            profiler = self.processes.start(["perf", "record", "-F", "1999", "-g", "-p", str(self.pushgate.pid),
                                             "-o", str(self.work / "perf-fanout.data")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        for _ in range(self.args.rounds):
            sub = self.subscriber("webpush/#", len(members))
            cpu_before = cpu_seconds(self.pushgate.pid)
            started = time.monotonic()
            response = httpx.post(endpoint, content=body_bytes, timeout=120, headers={
                "TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": self.authorization()})
            elapsed = time.monotonic() - started
            assert response.status_code == 201, response.text
            assert int(response.headers["Pushgate-Recipients"]) == len(members)
            cpu += cpu_seconds(self.pushgate.pid) - cpu_before
            self.delivered_rate(sub, len(members))          # every copy arrived
            times.append(elapsed)
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        # The same copies through the MQTT client alone: 10,000 publishes to 10,000 topics in one
        # batch (the path a list push takes), window 4096 as Pushgate's default — MQTTBridge (what
        # Pushgate uses) and the bare connection under it (MQTTClientConnection), alternating.
        clients = {}
        for _ in range(self.args.rounds):
            for client in ("bridge", "connection"):
                sub = self.subscriber("bridge/#", len(members))
                out = subprocess.run([self.args.bridge_bench, "127.0.0.1", str(self.broker_port), "bridge/fanout",
                                      str(len(members)), str(SIZE), "4096", "batch", client],
                                     check=True, capture_output=True, text=True, timeout=150).stdout.split()
                self.delivered_rate(sub, len(members))
                runs = clients.setdefault(client, {"seconds": [], "cpu": []})
                runs["seconds"].append(float(out[out.index("in") + 1]))
                runs["cpu"].append(float(out[out.index("cpu") + 1]))
        client_figures = {name: {"seconds": statistics.median(runs["seconds"]),
                                 "deliveries_per_s": len(members) / statistics.median(runs["seconds"]),
                                 "cpu_us_per_copy": statistics.median(runs["cpu"]) * 1e6 / len(members)}
                          for name, runs in clients.items()}
        return {"members": len(members), "seconds": statistics.median(times),
                "cpu_us_per_copy": cpu * 1e6 / (len(members) * self.args.rounds),
                "deliveries_per_s": len(members) / statistics.median(times),
                "bridge_seconds": client_figures["bridge"]["seconds"],
                "bridge_deliveries_per_s": client_figures["bridge"]["deliveries_per_s"],
                "clients": client_figures}

    def route_fanout(self, body: Path) -> dict:
        devices, rounds = self.args.fleet, self.args.rounds + 1       # round 1 warms up
        route = subprocess.run([self.args.pushgate, "routes", "--config", str(self.work / "pushgate.yaml"), "--json"],
                               check=True, capture_output=True, text=True).stdout
        endpoint = json.loads(route.splitlines()[0])["subscription"]["endpoint"]
        ceiling = subprocess.run([self.args.fleet_tool, "127.0.0.1", str(self.broker_port), "fleet/bench", str(devices),
                                  str(rounds), "self", str(SIZE)], check=True, capture_output=True, text=True, timeout=150)
        broker_us = [int(line.split()[3]) for line in ceiling.stdout.splitlines() if line.startswith("round")][1:]
        fleet = self.processes.start([self.args.fleet_tool, "127.0.0.1", str(self.broker_port), "fleet/bench",
                                      str(devices), str(rounds), "wait"], stdout=subprocess.PIPE, text=True)
        assert fleet.stdout.readline().strip() == "ready"
        body_bytes = body.read_bytes()
        pushgate_us = []
        with httpx.Client(http2=True, http1=False, timeout=30) as client:
            client.get(f"{self.origin}/healthz")
            cpu_before = cpu_seconds(self.pushgate.pid)
            for _ in range(rounds):
                authorization = self.authorization()
                started = time.time_ns() // 1000
                response = client.post(endpoint, content=body_bytes, headers={
                    "TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": authorization})
                assert response.status_code == 201, response.text
                line = fleet.stdout.readline().split()
                pushgate_us.append(int(line[3]) - started)
        cpu = cpu_seconds(self.pushgate.pid) - cpu_before
        fleet.wait(30)
        pushgate_us = pushgate_us[1:]
        return {"devices": devices, "seconds": statistics.median(pushgate_us) / 1e6,
                # One publish serves the whole fleet: Pushgate's CPU per route push.
                "cpu_us_per_push": cpu * 1e6 / rounds,
                "deliveries_per_s": devices / (statistics.median(pushgate_us) / 1e6),
                "broker_seconds": statistics.median(broker_us) / 1e6,
                "broker_deliveries_per_s": devices / (statistics.median(broker_us) / 1e6)}

    # --- the run ------------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        for path in self.work.glob("registry.sqlite*"):
            path.unlink()
        body = self.make_body()
        self.start_broker()
        self.write_config()
        self.start_pushgate()                          # creates the schema
        self.stop_pushgate()
        rows = self.fill_registry(1_000)
        load, probe = rows[0], rows[1]
        log = lambda text: print(f"[{time.monotonic() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

        log("ceiling: the best of several C libmosquitto client shapes -> broker -> subscriber")
        self.results["ceiling"] = self.ceiling()
        self.results["ceiling_msgs_per_s"] = self.results["ceiling"]["msgs_per_s"]
        self.start_pushgate()
        self.results["rss_kib_1k"] = rss_kib(self.pushgate.pid)
        log("push: h2load -> Pushgate (1,000 subscriptions)")
        self.results["push"] = self.push_run(load, probe, body, "1k")
        log("push: h2load --h1 -> Pushgate (HTTP/1.1, 16 connections)")
        self.results["push_http1"] = self.push_run(load, probe, body, "http1", http1=True)
        rate = 0.8 * self.results["push"]["pushes_per_s"]
        log(f"push: h2load paced at 80 % of that maximum ({rate:,.0f}/s)")
        self.results["push_paced"] = self.paced_run(load, body, rate)
        self.stop_pushgate()

        if self.args.http_floor:
            log("floor: h2load -> Pushgate's HTTP layer alone (201 at once, no validation, lookup or publish)")
            self.results["floor"] = {"h2c": self.floor_run(body, http1=False, paced_rate=rate),
                                     "http1": self.floor_run(body, http1=True)}

        if self.args.interposer:
            # Counting costs time, so it is a run of its own, after the timed ones.
            self.write_config(metrics=True)
            self.start_pushgate(env={"LD_PRELOAD": str(Path(self.args.interposer).resolve()), "PUSHGATE_COUNT_ALLOCATIONS": "1"})
            log("allocations: the push runs again, every heap allocation of the server counted")
            self.results["allocations_per_push"] = {"h2c": self.allocation_run(load, body, http1=False),
                                                    "http1": self.allocation_run(load, body, http1=True)}
            self.stop_pushgate()
            self.write_config()

        if self.args.metrics_overhead:
            # The same push run with metrics collected, then also scraped every second.
            self.write_config(metrics=True)
            self.start_pushgate()
            log("push: metrics on, not scraped")
            self.results["push_metrics"] = self.push_run(load, probe, body, "metrics")
            stop = threading.Event()
            scrapes = []

            def scraper():
                with httpx.Client() as client:
                    while not stop.wait(1):
                        response = client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
                        scrapes.append(len(response.content))
            thread = threading.Thread(target=scraper, daemon=True)
            thread.start()
            log("push: metrics on, scraped every second")
            self.results["push_metrics_scraped"] = self.push_run(load, probe, body, "scraped")
            stop.set()
            thread.join()
            self.results["metrics_excerpt"] = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
            self.results["scrapes"] = len(scrapes)
            self.stop_pushgate()
            self.write_config()

        if not self.args.skip_fanout:
            members = rows[:] + self.fill_registry(10_000)
            members = members[:10_000]
            self.start_pushgate()
            log("fan-out: a 10,000-member list")
            self.results["list"] = self.list_fanout(members, body)
            log(f"fan-out: an admin route with {self.args.fleet} devices")
            self.results["route"] = self.route_fanout(body)
            self.stop_pushgate()

        if not self.args.skip_scale:
            log(f"scale: filling the registry to {self.args.scale:,} subscriptions")
            self.fill_registry(self.args.scale, rows=False)
            self.results["restart_s"] = self.start_pushgate()
            # Ready within the fill budget (1 s): the index is still being read in, and pushes
            # are answered from the database meanwhile (docs/operations.md). A short run now
            # measures that path; the full run below waits for the index.
            self.results["filling_at_ready"] = self.registry_state() == "filling"
            filled = {}

            def watch_fill():
                while self.registry_state() != "ready":
                    time.sleep(0.05)
                filled["at"] = time.monotonic() - self.spawned_at
            watcher = threading.Thread(target=watch_fill, daemon=True)
            watcher.start()
            log(f"push while the index fills: h2load -> Pushgate ({self.args.filling_count:,} pushes)")
            self.results["push_filling"] = self.push_run(load, probe, body, "filling", count=self.args.filling_count)
            self.results["filling_after_run"] = self.registry_state() == "filling"
            watcher.join(300)
            self.results["filled_s"] = filled["at"]
            time.sleep(1)
            self.results["rss_kib_scale"] = rss_kib(self.pushgate.pid)
            log(f"push: h2load -> Pushgate ({self.args.scale:,} subscriptions)")
            self.results["push_scale"] = self.push_run(load, probe, body, "scale")
            self.stop_pushgate()
            self.results["scale"] = self.args.scale
        self.results["seconds"] = time.monotonic() - started
        self.report()

    def report(self):
        r = self.results
        ceiling = r["ceiling_msgs_per_s"]
        push = r["push"]
        lines = ["# Pushgate benchmark", "",
                 f"{r['count']:,} messages of {r['size']} bytes, QoS 1, one subscriber; h2load {self.args.clients} "
                 f"connections x {self.args.streams} streams; all on 127.0.0.1, one run ({r['seconds']:.0f} s).", "",
                 "| headline | ratio |", "|---|---|",
                 f"| **single push / broker ceiling** | **{push['pushes_per_s'] / ceiling:.2f}** |",
                 f"| single push over HTTP/1.1 / broker ceiling | {r['push_http1']['pushes_per_s'] / ceiling:.2f} |"]
        if "list" in r:
            lines.append(f"| **list fan-out / broker ceiling** | **{r['list']['deliveries_per_s'] / ceiling:.2f}** |")
            lines.append(f"| list fan-out / MQTTBridge, same copies | {r['list']['deliveries_per_s'] / r['list']['bridge_deliveries_per_s']:.2f} |")
            lines.append(f"| admin route / broker's own fan-out | {r['route']['deliveries_per_s'] / r['route']['broker_deliveries_per_s']:.2f} |")
        shapes = r["ceiling"]["shapes"]
        lines += ["", "| CPU per operation (the process's own utime + stime over the run) | µs |", "|---|---:|",
                  f"| mosquitto, per message in the ceiling run | {r['ceiling']['broker_cpu_us_per_msg']:.1f} |",
                  f"| Pushgate, per push over h2c | {push['cpu_us_per_push']:.1f} |",
                  f"| Pushgate, per push over HTTP/1.1 | {r['push_http1']['cpu_us_per_push']:.1f} |",
                  f"| mosquitto, per push during the h2c / HTTP/1.1 run | {push['broker_cpu_us_per_push']:.1f} / {r['push_http1']['broker_cpu_us_per_push']:.1f} |"]
        if "floor" in r:
            floor = r["floor"]
            lines += [f"| the HTTP layer alone (`pushgate-http-floor`: Pushgate's HTTPServer answering 201 at once), per request over h2c / HTTP/1.1 | {floor['h2c']['cpu_us_per_request']:.1f} / {floor['http1']['cpu_us_per_request']:.1f} |",
                      f"| Pushgate's push work above that floor (validation, VAPID cache, lookup, MQTT), per push over h2c / HTTP/1.1 | {push['cpu_us_per_push'] - floor['h2c']['cpu_us_per_request']:.1f} / {r['push_http1']['cpu_us_per_push'] - floor['http1']['cpu_us_per_request']:.1f} |"]
        if "list" in r:
            lines += [f"| Pushgate, per delivered copy of a list push | {r['list']['cpu_us_per_copy']:.1f} |",
                      f"| Pushgate, per admin-route push (one publish for {r['route']['devices']:,} devices) | {r['route']['cpu_us_per_push']:.0f} (the process clock counts 10 ms ticks: a few pushes measure as 0 or one tick) |"]
        if "allocations_per_push" in r:
            allocations = r["allocations_per_push"]
            lines += ["", "| heap allocations per push, whole server process (counted run, 20,000 pushes) | h2c | HTTP/1.1 |", "|---|---:|---:|",
                      f"| Pushgate | {allocations['h2c']:.1f} | {allocations['http1']:.1f} |"]
        lines += budget_table(push, r["push_http1"], ceiling)
        lines += ["", "| Pushgate CPU per push by thread (µs) | h2c | HTTP/1.1 |", "|---|---:|---:|"]
        by_thread, by_thread_h1 = push["cpu_us_per_push_by_thread"], r["push_http1"]["cpu_us_per_push_by_thread"]
        lines += [f"| {kind} | {by_thread.get(kind, 0):.1f} | {by_thread_h1.get(kind, 0):.1f} |"
                  for kind in sorted(set(by_thread) | set(by_thread_h1), key=lambda k: -by_thread.get(k, 0))]
        lines += ["", "| ceiling: client shape (C libmosquitto -> mosquitto -> one subscriber) | msg/s | mosquitto µs/msg | C client µs/msg (publishers + subscriber) |", "|---|---:|---:|---:|"]
        lines += [f"| {'**' + name + '** (the ceiling)' if name == r['ceiling']['best'] else name} | {shape['msgs_per_s']:,.0f} | {shape['broker_cpu_us_per_msg']:.1f} | {shape['client_cpu_us_per_msg']:.1f}"
                  + (f" (the publisher alone: {shape['publisher_cpu_us_per_msg']:.1f})" if "publisher_cpu_us_per_msg" in shape else "") + " |"
                  for name, shape in shapes.items()]
        http1, paced = r["push_http1"], r["push_paced"]
        lines += ["", "| path | figure |", "|---|---|",
                  f"| broker ceiling ({r['ceiling']['best']}) | {ceiling:,.0f} msg/s |",
                  f"| push: h2load -> Pushgate -> mosquitto -> subscriber (1,000 subscriptions) | {push['pushes_per_s']:,.0f} pushes/s |",
                  f"| POST->201, all {r['count']:,} requests: p50 / p99 / p99.9 | {push['post_201_ms']['p50']:.1f} / {push['post_201_ms']['p99']:.1f} / {push['post_201_ms']['p999']:.1f} ms |",
                  f"| POST->delivery, {push['post_delivery_ms']['samples']} paced probe pushes during the load: p50 / p99 / p99.9 | {push['post_delivery_ms']['p50']:.1f} / {push['post_delivery_ms']['p99']:.1f} / {push['post_delivery_ms']['p999']:.1f} ms |",
                  f"| count check: 201s == delivered | {push['created']:,} == {push['delivered']:,}: {'yes' if push['count_check'] else 'NO'} |",
                  f"| POST->201 at 80 % of the maximum ({paced['offered_per_s']:,.0f} pushes/s offered, {paced['pushes']:,} pushes, all 201: {'yes' if paced['created'] == paced['pushes'] else 'NO'}): p50 / p99 / p99.9 | {paced['post_201_ms']['p50']:.1f} / {paced['post_201_ms']['p99']:.1f} / {paced['post_201_ms']['p999']:.1f} ms |",
                  *([f"| the HTTP layer alone (`pushgate-http-floor`) under the same paced load ({r['floor']['h2c']['paced']['offered_per_s']:,.0f} requests/s): POST->201 p50 / p99 / p99.9 | {r['floor']['h2c']['paced']['post_201_ms']['p50']:.1f} / {r['floor']['h2c']['paced']['post_201_ms']['p99']:.1f} / {r['floor']['h2c']['paced']['post_201_ms']['p999']:.1f} ms |"]
                    if r.get("floor", {}).get("h2c", {}).get("paced") else []),
                  f"| push over HTTP/1.1 (h2load --h1, 16 connections) | {http1['pushes_per_s']:,.0f} pushes/s; POST->201 p99 {http1['post_201_ms']['p99']:.1f} ms; count check {'yes' if http1['count_check'] else 'NO'} |",
                  f"| Pushgate resident memory, 1,000 subscriptions | {r['rss_kib_1k'] / 1024:.0f} MiB |"]
        if "list" in r:
            lst, route = r["list"], r["route"]
            lines += [f"| one push to a {lst['members']:,}-member list, until the broker acknowledged every copy | {lst['seconds'] * 1000:.0f} ms = {lst['deliveries_per_s']:,.0f} deliveries/s |",
                      f"| the same {lst['members']:,} copies from MQTTBridge alone (one batch, distinct topics) | {lst['bridge_seconds'] * 1000:.0f} ms = {lst['bridge_deliveries_per_s']:,.0f} msg/s = {lst['bridge_deliveries_per_s'] / ceiling:.2f} of the ceiling, {lst['clients']['bridge']['cpu_us_per_copy']:.1f} µs CPU per copy |",
                      f"| the same {lst['members']:,} copies from the bare MQTT connection under it (`MQTTClientConnection`, one batch) | {lst['clients']['connection']['seconds'] * 1000:.0f} ms = {lst['clients']['connection']['deliveries_per_s']:,.0f} msg/s = {lst['clients']['connection']['deliveries_per_s'] / ceiling:.2f} of the ceiling, {lst['clients']['connection']['cpu_us_per_copy']:.1f} µs CPU per copy |",
                      f"| one push to an admin route, until the last of {route['devices']:,} devices has it | {route['seconds'] * 1000:.1f} ms = {route['deliveries_per_s']:,.0f} deliveries/s |",
                      f"| one publish by the broker's own client to the same {route['devices']:,} devices | {route['broker_seconds'] * 1000:.1f} ms = {route['broker_deliveries_per_s']:,.0f} deliveries/s |"]
        if "scale" in r:
            scaled = r["push_scale"]
            per_sub = (r["rss_kib_scale"] - r["rss_kib_1k"]) * 1024 / (r["scale"] - 1_000)
            filling = r["push_filling"]
            lines += [f"| restart to ready (`/readyz` 200) with {r['scale']:,} subscriptions | {r['restart_s']:.2f} s (index still filling then: {'yes' if r['filling_at_ready'] else 'no'}) |",
                      f"| push while the index fills ({filling['created']:,} pushes, answered from the database; still filling at the end: {'yes' if r['filling_after_run'] else 'no'}) | {filling['pushes_per_s']:,.0f} pushes/s ({filling['pushes_per_s'] / push['pushes_per_s']:.2f} of the 1,000 figure), {filling['cpu_us_per_push']:.0f} µs CPU per push (the fill's own work included); count check {'yes' if filling['count_check'] else 'NO'} |",
                      f"| the index read in ({r['scale']:,} subscriptions), from the start | {r['filled_s']:.2f} s |",
                      f"| resident memory with {r['scale']:,} subscriptions | {r['rss_kib_scale'] / 1024:.0f} MiB = {per_sub:.0f} bytes per subscription |",
                      f"| push with {r['scale']:,} subscriptions | {scaled['pushes_per_s']:,.0f} pushes/s ({scaled['pushes_per_s'] / push['pushes_per_s']:.2f} of the 1,000 figure) |",
                      f"| POST->201 / POST->delivery p99 with {r['scale']:,} subscriptions | {scaled['post_201_ms']['p99']:.1f} / {scaled['post_delivery_ms']['p99']:.1f} ms |",
                      f"| count check with {r['scale']:,} subscriptions | {scaled['created']:,} == {scaled['delivered']:,}: {'yes' if scaled['count_check'] else 'NO'} |"]
            r["bytes_per_subscription"] = per_sub
        if "push_metrics" in r:
            plain, metered, scraped = push["pushes_per_s"], r["push_metrics"]["pushes_per_s"], r["push_metrics_scraped"]["pushes_per_s"]
            lines += [f"| push, metrics collected (metrics.listen set), not scraped | {metered:,.0f} pushes/s = {metered / ceiling:.2f} of the ceiling ({metered / plain:.2f} of without) |",
                      f"| push, metrics collected and scraped every second ({r['scrapes']} scrapes) | {scraped:,.0f} pushes/s = {scraped / ceiling:.2f} of the ceiling ({scraped / plain:.2f} of without) |"]
        markdown = "\n".join(lines) + "\n"
        (self.work / "results.md").write_text(markdown)
        (self.work / "results.json").write_text(json.dumps(r, indent=2) + "\n")
        print(markdown)
        print(f"results: {self.work / 'results.md'}, {self.work / 'results.json'}")


def budget_table(push: dict, http1: dict, ceiling: float) -> list:
    """What one push costs the whole machine, process by process, and what that allows: every
    process of a push run shares the same cores, so the pushes/s they can carry is bounded by
    cores ÷ the sum. The last row is what Pushgate may cost for a single push at 0.85 of the
    ceiling (issue 16's target) with the others as measured."""
    cores = os.cpu_count() or 1
    budget = cores * 1e6
    parts = [("Pushgate", "cpu_us_per_push"), ("mosquitto", "broker_cpu_us_per_push"),
             ("h2load (the load and the probes)", "load_cpu_us_per_push"), ("the subscriber (C libmosquitto)", "subscriber_cpu_us_per_push")]
    runs = [push, http1]
    total = [sum(run[key] for _, key in parts) for run in runs]
    others = [t - run["cpu_us_per_push"] for t, run in zip(total, runs)]
    lines = ["", f"| CPU per push, every process of the run (µs; {cores} cores = {budget:,.0f} µs of CPU per second) | h2c | HTTP/1.1 |", "|---|---:|---:|"]
    lines += [f"| {name} | {push[key]:.1f} | {http1[key]:.1f} |" for name, key in parts]
    lines += [f"| **all four** | **{total[0]:.1f}** | **{total[1]:.1f}** |",
              f"| pushes/s the cores allow at that cost / measured | {budget / total[0]:,.0f} / {push['pushes_per_s']:,.0f} | {budget / total[1]:,.0f} / {http1['pushes_per_s']:,.0f} |",
              f"| for a single push at 0.85 of the ceiling ({0.85 * ceiling:,.0f}/s), Pushgate may cost at most | {budget / (0.85 * ceiling) - others[0]:.1f} | {budget / (0.85 * ceiling) - others[1]:.1f} |"]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushgate", required=True)
    parser.add_argument("--bridge-bench", required=True)
    parser.add_argument("--ceiling", required=True, help="the mqtt_ceiling C tool")
    parser.add_argument("--fleet-tool", required=True, help="the mqtt_fleet C tool")
    parser.add_argument("--work", default=".run/bench")
    parser.add_argument("--count", type=int, default=100_000, help="messages per throughput run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--probes", type=int, default=1000, help="latency probes per push run")
    parser.add_argument("--probe-rate", type=int, default=200, help="latency probes per second")
    parser.add_argument("--rounds", type=int, default=3, help="fan-out rounds (the median is reported)")
    parser.add_argument("--fleet", type=int, default=1_000, help="devices on the admin route")
    parser.add_argument("--scale", type=int, default=1_000_000, help="subscriptions in the scale run")
    parser.add_argument("--http-floor", help="pushgate-http-floor: measure the HTTP layer alone under the same load")
    parser.add_argument("--interposer", help="ordo-one/malloc-interposer's library: count the server's allocations per push")
    parser.add_argument("--profile", action="store_true",
                        help="perf record Pushgate during the first push run (work/perf.data; see docs/performance.md)")
    parser.add_argument("--profile-fanout", action="store_true",
                        help="perf record Pushgate during the list fan-out rounds (work/perf-fanout.data)")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--metrics-overhead", action="store_true",
                        help="repeat the push run with metrics collected, then also scraped every second")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--filling-count", type=int, default=10_000, help="pushes in the run while the scale registry's index fills")
    bench = Bench(parser.parse_args())
    try:
        bench.run()
    finally:
        bench.processes.kill_all()


if __name__ == "__main__":
    main()
