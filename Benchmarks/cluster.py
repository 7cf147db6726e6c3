"""Pushgate scaled out: several instances on one PostgreSQL and one mosquitto (issue 13).

Run through `make bench` (after Benchmarks/bench.py) or `scripts/bench.sh --cluster-only`. One
fresh mosquitto and one fresh PostgreSQL (Debian's, started by scripts/postgres.sh on a free
port), release binaries, everything on 127.0.0.1:

  1. ceiling      the broker alone: C libmosquitto publisher -> broker -> one QoS 1 subscriber,
                  4096-byte payloads (the same tool and payload size as bench.py).
  2. push x N     N = 1, 2, 3 instances on PostgreSQL, no client id set; N h2load processes, one
                  per instance, split the same count of 4096-byte pushes to one subscription;
                  pushes/s delivered to its subscriber, and the instances' own CPU (utime+stime
                  from /proc) per push. On a 2-core machine that also runs the broker, h2load and
                  the subscriber this is CPU-bound: the point is that nothing serializes across
                  instances (the push path does no database I/O).
  3. subscribe    POST /subscribe, h2load 4 connections x 16 streams, 3,000 requests, through one
                  instance on SQLite and one on PostgreSQL (each a durable write before the 201).
  4. delete       two instances on PostgreSQL: subscribe via A, push via B, DELETE via A, then
                  push via B until it answers 410; the time from the DELETE's 204 to B's first 410,
                  100 rounds.

Results: cluster.md and cluster.json in the work directory (and on standard output).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import SIZE, Processes, cpu_seconds, honest_ceiling, percentile, start_mosquitto  # noqa: E402
from harness import free_port  # noqa: E402  (bench put Tests/interop on the path)

ROOT = Path(__file__).resolve().parents[1]


class ClusterBench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work).resolve() / "cluster"
        self.work.mkdir(parents=True, exist_ok=True)
        self.processes = Processes()
        self.results = {"count": args.count, "size": SIZE}
        self.broker_port = free_port()
        self.instances = []
        self.pg_dir = Path(tempfile.mkdtemp(prefix="pushgate-bench-pg-", dir="/tmp"))
        os.chmod(self.pg_dir, 0o755)
        self.pg_url = None

    # --- parts --------------------------------------------------------------------------

    def start_broker(self):
        self.broker = start_mosquitto(self.processes, self.work, self.broker_port)

    def postgres(self, command: str) -> str:
        return subprocess.run([str(ROOT / "scripts" / "postgres.sh"), command, str(self.pg_dir / "server")],
                              check=True, capture_output=True, text=True).stdout.strip()

    def fresh_database(self) -> str:
        name = f"bench_{os.urandom(4).hex()}"
        port = (self.pg_dir / "server" / "port").read_text().strip()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-tAc", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True)
        return f"postgres://postgres@127.0.0.1:{port}/{name}?sslmode=disable"

    def start_instances(self, count: int, storage: str, public_url: str = "http://push.bench.test") -> list:
        """`count` instances on one registry; returns their origins."""
        origins = []
        for index in range(count):
            port = free_port()
            config = self.work / f"pushgate-{port}.yaml"
            config.write_text(f"""
server:
  listen: "127.0.0.1:{port}"
  public_url: "{public_url}"
  max_concurrent_streams: 1000
mqtt:
  url: "mqtt://127.0.0.1:{self.broker_port}"
storage:
  {storage}
logging:
  level: "warning"
rate_limits:
  pushes_per_subscription: off
  subscribes_per_address: off
""")
            process = self.processes.start([self.args.pushgate, "serve", "--config", str(config)],
                                           stdout=open(self.work / f"pushgate-{port}.log", "ab"), stderr=subprocess.STDOUT)
            origin = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (self.work / f"pushgate-{port}.log").read_text()[-2000:]
                try:
                    if httpx.get(f"{origin}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "instance not ready"
                time.sleep(0.02)
            self.instances.append(process)
            origins.append(origin)
        return origins

    def stop_instances(self):
        for process in self.instances:
            process.send_signal(signal.SIGTERM)
        for process in self.instances:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.instances = []

    def subscriber(self, topic_filter: str, count: int) -> subprocess.Popen:
        process = self.processes.start([self.args.ceiling, "sub", "127.0.0.1", str(self.broker_port), topic_filter, str(count)],
                                       stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        return process

    @staticmethod
    def delivered_rate(subscriber: subprocess.Popen, count: int) -> float:
        out, _ = subscriber.communicate(timeout=300)
        words = out.split()
        received, seconds = int(words[words.index("received") + 1]), float(words[words.index("in") + 1])
        assert received == count and subscriber.returncode == 0, f"subscriber: {out}"
        return count / seconds

    # --- measurements -------------------------------------------------------------------

    def ceiling(self) -> dict:
        return honest_ceiling(self.args.ceiling, self.broker_port, self.args.count, self.broker.pid, self.subscriber,
                              self.delivered_rate)

    def push(self, instances: int, body: Path) -> dict:
        origins = self.start_instances(instances, f'url: "{self.fresh_database()}"')
        subscription = httpx.post(f"{origins[0]}/subscribe").json()
        token = subscription["endpoint"].rsplit("/", 1)[1]
        count = self.args.count - self.args.count % instances
        sub = self.subscriber(subscription["mqtt_topic"], count)
        cpu_before = sum(cpu_seconds(p.pid) for p in self.instances)
        loads = [self.processes.start(
            ["h2load", "-n", str(count // instances), "-c", str(self.args.clients), "-m", str(self.args.streams), "-d", str(body),
             "-H", "TTL: 60", "-H", "Content-Encoding: aes128gcm", f"{origin}/p/{token}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for origin in origins]
        outputs = [load.communicate(timeout=300)[0] for load in loads]
        rate = self.delivered_rate(sub, count)
        cpu = sum(cpu_seconds(p.pid) for p in self.instances) - cpu_before
        created = sum(int(line.split()[line.split().index("2xx,") - 1]) for out in outputs for line in out.splitlines()
                      if line.startswith("status codes:"))
        self.stop_instances()
        return {"instances": instances, "pushes_per_s": rate, "cpu_us_per_push": cpu / count * 1e6, "created": created, "delivered": count}

    def subscribe_rate(self, storage: str) -> dict:
        [origin] = self.start_instances(1, storage)
        options = self.work / "options.json"
        options.write_bytes(b"{}")                 # h2load cannot send an empty body; {} is "no options"
        out = subprocess.run(["h2load", "-n", "3000", "-c", "4", "-m", "16", "-d", str(options),
                              "-H", "Content-Type: application/webpush-options+json", f"{origin}/subscribe"],
                             capture_output=True, text=True, timeout=300).stdout
        self.stop_instances()
        assert "finished in" in out, out
        finished = next(line for line in out.splitlines() if line.startswith("finished in"))
        codes = next(line for line in out.splitlines() if line.startswith("status codes:"))
        rate = float(finished.split(",")[1].split()[0])
        return {"per_s": rate, "status": codes.strip()}

    def delete_propagation(self) -> dict:
        a, b = self.start_instances(2, f'url: "{self.fresh_database()}"')
        client = httpx.Client(timeout=5)
        samples = []
        for _ in range(self.args.delete_rounds):
            body = client.post(f"{a}/subscribe").json()
            push = b + "/p/" + body["endpoint"].rsplit("/", 1)[1]
            assert client.post(push, headers={"TTL": "0"}).status_code == 201
            assert client.delete(a + "/s/" + body["subscription"].rsplit("/", 1)[1]).status_code == 204
            deleted = time.monotonic()
            while client.post(push, headers={"TTL": "0"}).status_code != 410:
                assert time.monotonic() - deleted < 5, "not propagated within 5 s"
            samples.append((time.monotonic() - deleted) * 1000)
        client.close()
        self.stop_instances()
        samples.sort()
        return {"rounds": len(samples), "p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99), "max_ms": samples[-1]}

    # --- run ----------------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        log = lambda text: print(f"[cluster {time.monotonic() - started:6.1f} s] {text}", file=sys.stderr, flush=True)
        body = self.work / "body.bin"
        body.write_bytes((Path(self.args.work).resolve() / "body.bin").read_bytes()
                         if (Path(self.args.work).resolve() / "body.bin").exists() else os.urandom(SIZE))
        self.start_broker()
        self.postgres("start")
        log("ceiling: the best of several C libmosquitto client shapes -> broker -> subscriber")
        self.results["ceiling"] = self.ceiling()
        self.results["ceiling_msgs_per_s"] = self.results["ceiling"]["msgs_per_s"]
        self.results["push"] = []
        for instances in (1, 2, 3):
            log(f"push through {instances} instance(s) on PostgreSQL")
            self.results["push"].append(self.push(instances, body))
        log("subscribe rate: SQLite, then PostgreSQL")
        self.results["subscribe_sqlite"] = self.subscribe_rate(f'path: "{self.work / f"registry-{os.urandom(4).hex()}.sqlite"}"')
        self.results["subscribe_postgres"] = self.subscribe_rate(f'url: "{self.fresh_database()}"')
        log("delete propagation between two instances")
        self.results["delete"] = self.delete_propagation()
        self.results["seconds"] = time.monotonic() - started
        self.report()

    def report(self):
        r = self.results
        ceiling = r["ceiling_msgs_per_s"]
        lines = ["# Pushgate on several instances (PostgreSQL + one mosquitto)", "",
                 f"{r['count']:,} pushes of {r['size']} bytes per run, QoS 1, one subscriber; h2load {self.args.clients} connections x "
                 f"{self.args.streams} streams per instance; everything on one 2-core machine, one run ({r['seconds']:.0f} s).", "",
                 "| instances | pushes/s | / broker ceiling | instances' CPU per push | 201s == delivered |", "|---|---|---|---|---|"]
        for run in r["push"]:
            lines.append(f"| {run['instances']} | {run['pushes_per_s']:,.0f} | {run['pushes_per_s'] / ceiling:.2f} | "
                         f"{run['cpu_us_per_push']:.0f} µs | {'yes' if run['created'] == run['delivered'] else 'NO'} |")
        sq, pg, dl = r["subscribe_sqlite"], r["subscribe_postgres"], r["delete"]
        lines += ["", "| figure | value |", "|---|---|",
                  f"| broker ceiling (same run; best shape: {r['ceiling']['best']}) | {ceiling:,.0f} msg/s |",
                  f"| subscribes/s, SQLite (one instance) | {sq['per_s']:,.0f} ({sq['status']}) |",
                  f"| subscribes/s, PostgreSQL (one instance) | {pg['per_s']:,.0f} ({pg['status']}) |",
                  f"| delete via A -> 410 via B, {dl['rounds']} rounds: p50 / p99 / max | {dl['p50_ms']:.1f} / {dl['p99_ms']:.1f} / {dl['max_ms']:.1f} ms |"]
        markdown = "\n".join(lines) + "\n"
        (self.work.parent / "cluster.md").write_text(markdown)
        (self.work.parent / "cluster.json").write_text(json.dumps(r, indent=2) + "\n")
        print(markdown)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushgate", required=True)
    parser.add_argument("--ceiling", required=True, help="the mqtt_ceiling C tool")
    parser.add_argument("--work", default=".run/bench")
    parser.add_argument("--count", type=int, default=60_000, help="pushes per throughput run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--delete-rounds", type=int, default=100)
    bench = ClusterBench(parser.parse_args())
    try:
        bench.run()
    finally:
        bench.processes.kill_all()
        try:
            bench.postgres("stop")
        finally:
            subprocess.run(["rm", "-rf", str(bench.pg_dir)], check=False)


if __name__ == "__main__":
    main()
