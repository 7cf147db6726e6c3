"""Receipt latency: from the device's MQTT acknowledgement to the receipt at the application
server, over HTTP/2 server push (an `h2` client holding GET <receipt subscription>) and over
server-sent events (httpx). One fresh mosquitto and Pushgate on free 127.0.0.1 ports; pushes
one at a time, each with `Prefer: respond-async`; the device (paho-mqtt) acknowledges each on
arrival and notes the time just before it publishes the acknowledgement; the reader notes when
the receipt arrives. Prints p50 / p99 / max per transport, and writes them to --out (JSON).

    .venv/bin/python Benchmarks/receipt_latency.py --pushgate .build/release/pushgate [--count 300]
"""
import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "interop"))
from harness import Broker, Device, Server  # noqa: E402
from test_receipts import H2ReceiptReader, SSEReader, path_of, push, receipt_subscription  # noqa: E402


class AckingDevice(Device):
    """Acknowledges every message as it arrives, noting when (by message id)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acked_at = {}

    def _on_message(self, client, userdata, message):
        super()._on_message(client, userdata, message)
        record = self.messages[-1]
        self.acked_at[record["user"]["message-id"]] = time.monotonic()
        self.acknowledge_async(record)

    def acknowledge_async(self, record):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        properties = Properties(PacketTypes.PUBLISH)
        properties.CorrelationData = record["correlation"]
        self.client.publish(record["response_topic"], b"", qos=1, properties=properties)


def percentiles(values):
    values = sorted(values)
    pick = lambda f: values[min(len(values) - 1, int(len(values) * f))] * 1000
    return {"p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(values[-1] * 1000, 2), "count": len(values)}


def run_h2(server, device, sub, count):
    receipts = receipt_subscription(server)
    reader = H2ReceiptReader(server.port, path_of(receipts))
    latencies = []
    for _ in range(count):
        location = push(sub, receipts)
        [(path, status)] = reader.read(len(reader.receipts) + 1)[-1:]
        arrived = time.monotonic()
        assert status == 204 and path == path_of(location)
        latencies.append(arrived - device.acked_at[location.rsplit("/", 1)[1]])
    reader.close()
    return latencies


def run_sse(server, device, sub, count):
    receipts = receipt_subscription(server)
    reader = SSEReader(receipts)
    latencies = []
    for index in range(count):
        location = push(sub, receipts)
        events = reader.wait(index + 1)
        arrived = time.monotonic()
        assert events[-1]["data"] == {"message": location, "status": 204}
        latencies.append(arrived - device.acked_at[location.rsplit("/", 1)[1]])
    reader.close()
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushgate", required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--out", default=".run/receipt-latency.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="receipt-latency-"))
    # mosquitto leaves Nagle's algorithm on by default: small packets (an acknowledgement) then
    # wait for the peer's delayed ACK, ~40 ms. Gateways want it off.
    broker = Broker(work, extra="set_tcp_nodelay true")
    server = Server(Path(args.pushgate), work, broker, log_level="warning")
    try:
        server.wait_ready()
        sub = server.subscribe()
        device = AckingDevice(broker, sub["mqtt_topic"]).connect()
        results = {"h2_server_push": percentiles(run_h2(server, device, sub, args.count)),
                   "server_sent_events": percentiles(run_sse(server, device, sub, args.count))}
        device.disconnect()
    finally:
        server.stop()
        broker.kill()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print("device acknowledgement -> receipt at the application server")
    for name, figures in results.items():
        print(f"  {name:20} p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms ({figures['count']} receipts)")


if __name__ == "__main__":
    main()
