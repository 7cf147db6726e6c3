"""Metrics and logs as an operator sees them (issue 14): `GET /metrics` on `metrics.listen`,
scraped with a real HTTP client and parsed with the Prometheus project's own Python parser;
every metric moves when something provokes it. JSON logs parse line by line and never hold a
token."""
import json
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port
from harness import Broker, Device, Server, vapid_keys


def scrape(port: int) -> dict:
    """{(name, frozenset(labels)): value} of one scrape."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def metered(pushgate_bin, tmp_path, broker):
    port = free_port()
    server = Server(pushgate_bin, tmp_path, broker, log_format="json", log_level="info",
                    extra=f'metrics:\n  listen: "127.0.0.1:{port}"\nlists:\n  max_deliveries_per_second_per_key: 2\n')
    server.metrics_port = port
    server.wait_ready()
    yield server
    server.stop()


def test_every_metric_moves_when_provoked(metered, broker, tmp_path):
    port = metered.metrics_port
    time.sleep(1.2)                                   # one sample of the gauges
    before = scrape(port)
    assert value(before, "pushgate_broker_connected") == 1
    assert value(before, "pushgate_broker_publish_window") > 0
    assert value(before, "pushgate_broker_connects_total") == 1
    assert value(before, "pushgate_subscriptions") == 0

    vapid, _ = vapid_keys()
    auth = {"Authorization": vapid.sign({"aud": metered.url, "sub": "mailto:ops@example.com"})["Authorization"]}
    a, b = metered.subscribe(), metered.subscribe()
    device = Device(broker, a["mqtt_topic"]).connect()
    assert httpx.post(a["endpoint"], headers={"TTL": "60", **auth}).status_code == 201
    assert httpx.post(a["endpoint"], headers={"TTL": "60", **auth}).status_code == 201      # the VAPID cache hits
    assert httpx.post(f"{metered.url}/p/AAAAAAAAAAAAAAAAAAAAAA", headers={"TTL": "60"}).status_code == 404
    assert httpx.post(a["endpoint"], headers={"TTL": "forever"}).status_code == 400
    made = httpx.post(f"{metered.url}/lists", content=json.dumps({a["endpoint"]: {}, b["endpoint"]: {}}),
                      headers={**auth, "Content-Type": "application/push-aggregation+json"})
    assert made.status_code == 201
    assert httpx.post(made.json()["endpoint"], headers={**auth, "TTL": "60"}).status_code == 201
    limited = httpx.post(made.json()["endpoint"], headers={**auth, "TTL": "60"})
    assert limited.status_code == 429                 # 2 deliveries per second per key
    # HTTP/2: three streams on one connection.
    subprocess.run(["h2load", "-n", "3", "-c", "1", f"{metered.url}/healthz"], check=True, capture_output=True)
    with httpx.Client() as held:                      # a connection open while the sampler looks
        held.get(f"{metered.url}/healthz")
        time.sleep(1.2)
        after = scrape(port)
        assert value(after, "pushgate_http_connections_open") >= 1

    push = 'POST /p/{push}'
    assert value(after, "pushgate_http_requests_total", route=push, status="201", errno="") == 2
    assert value(after, "pushgate_http_requests_total", route=push, status="404", errno="120") == 1
    assert total(after, "pushgate_http_requests_total", route=push, status="400") == 1
    assert value(after, "pushgate_http_requests_total", route="POST /lp/{list-push}", status="429", errno="146") == 1
    assert value(after, "pushgate_http_request_duration_seconds_count", route=push) == 4
    assert value(after, "pushgate_http_request_duration_seconds_bucket", route=push, le="+Inf") == 4
    assert value(after, "pushgate_rate_limited_total", limit="list_fanout") == 1
    assert value(after, "pushgate_fanout_recipients_count", kind="list") == 1
    assert value(after, "pushgate_fanout_recipients_sum", kind="list") == 2
    assert value(after, "pushgate_subscriptions") == 2 and value(after, "pushgate_lists") == 1
    assert value(after, "pushgate_vapid_cache_hits_total") >= 1 and value(after, "pushgate_vapid_cache_misses_total") >= 1
    assert value(after, "pushgate_http2_streams_total") >= 3
    assert value(after, "pushgate_http_connections_total") > value(before, "pushgate_http_connections_total")
    assert value(after, "pushgate_registry_write_duration_seconds_count") >= 3      # two subscribes, one list
    assert value(after, "pushgate_routes") == 0

    # The broker restarts: a disconnect and a second connect.
    broker.kill()
    time.sleep(0.5)
    assert value(scrape(port), "pushgate_broker_connected") in (0, 1)
    broker.start()
    metered.wait_ready()
    time.sleep(1.2)
    restarted = scrape(port)
    assert value(restarted, "pushgate_broker_connects_total") == 2
    assert value(restarted, "pushgate_broker_disconnects_total") == 1
    assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404
    device.disconnect()

    # Labels are bounded: a route label, a status, an errno; never a token or a topic.
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    for secret in (a["endpoint"].rsplit("/", 1)[1], a["mqtt_topic"].split("/")[1], made.json()["endpoint"].rsplit("/", 1)[1]):
        assert secret not in text


def test_json_logs_parse_line_by_line_with_an_access_line_per_request_and_no_tokens(metered):
    sub = metered.subscribe()
    assert httpx.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 201
    assert httpx.post(f"{metered.url}/p/AAAAAAAAAAAAAAAAAAAAAA", headers={"TTL": "0"}).status_code == 404
    time.sleep(0.3)
    lines = metered.log.read_text().splitlines()
    records = [json.loads(line) for line in lines]           # every line is one JSON object
    assert all({"time", "level", "message", "label"} <= record.keys() for record in records)
    access = [r for r in records if r["message"] == "request"]
    assert {(r["route"], r["status"], r["errno"]) for r in access} >= {
        ("POST /subscribe", "201", "-"), ("POST /p/{push}", "201", "-"), ("POST /p/{push}", "404", "120")}
    assert all(float(r["ms"]) >= 0 for r in access)
    text = metered.log.read_text()
    token = sub["endpoint"].rsplit("/", 1)[1]
    assert token not in text and sub["location"].rsplit("/", 1)[1] not in text


def test_dashboard_and_alert_rules_name_only_metrics_that_exist(metered):
    """deploy/grafana and deploy/prometheus are valid JSON / YAML, and every pushgate_* series they
    query is one that /metrics exposes (after some traffic)."""
    import re
    from pathlib import Path

    import yaml
    root = Path(__file__).resolve().parents[2]
    sub = metered.subscribe()
    httpx.post(sub["endpoint"], headers={"TTL": "0"})
    time.sleep(1.2)
    families = {family.name for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{metered.metrics_port}/metrics").text)}
    exposed = set()
    for name in families:
        exposed |= {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    dashboard = json.loads((root / "deploy/grafana/pushgate-dashboard.json").read_text())
    rules = yaml.safe_load((root / "deploy/prometheus/pushgate-alerts.yml").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(expressions) > 15
    used = {name for expr in expressions for name in re.findall(r"pushgate_[a-z0-9_]+", expr)}
    # Every fixed metric is exposed from the start (at zero), fan-outs and refusals included.
    assert used <= exposed, used - exposed
