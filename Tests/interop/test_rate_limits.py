"""Rate limits (issue 14, RFC 8030 §8.4 / P-42): each gives 429 + Retry-After + its errno at its
configured rate, recovers, and is counted in the metrics."""
import time

import httpx

from conftest import free_port
from harness import Server, vapid_keys
from test_metrics import scrape, value

LIMITS = """
rate_limits:
  pushes_per_subscription: {per_second: 2, burst: 3}
  subscribes_per_address: {per_second: 2, burst: 4}
  failed_vapid_per_address: {per_second: 2, burst: 2}
"""


def test_each_limit_refuses_at_its_rate_and_recovers(pushgate_bin, tmp_path, broker):
    port = free_port()
    server = Server(pushgate_bin, tmp_path, broker, extra=LIMITS + f'metrics:\n  listen: "127.0.0.1:{port}"\n')
    try:
        # Subscribes from one address: a burst of 4, then 429 errno 114.
        subs = [server.subscribe() for _ in range(4)]
        refused = httpx.post(f"{server.url}/subscribe")
        assert refused.status_code == 429 and refused.json()["errno"] == 114 and int(refused.headers["retry-after"]) >= 1

        # Pushes to one subscription: a burst of 3, then 429 errno 128; another subscription is unaffected.
        for _ in range(3):
            assert httpx.post(subs[0]["endpoint"], headers={"TTL": "0"}).status_code == 201
        limited = httpx.post(subs[0]["endpoint"], headers={"TTL": "0"})
        assert limited.status_code == 429 and limited.json()["errno"] == 128 and "retry-after" in limited.headers
        assert httpx.post(subs[1]["endpoint"], headers={"TTL": "0"}).status_code == 201

        # Failed VAPID verifications from one address: two 403s, then 429 errno 116 before any
        # verify — even for a valid token; a request without VAPID is unaffected.
        vapid, _ = vapid_keys()
        bad = {"Authorization": "vapid t=eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJ4In0.AAAA, k=BAAA"}
        assert [httpx.post(subs[2]["endpoint"], headers={"TTL": "0", **bad}).status_code for _ in range(2)] == [403, 403]
        good = {"Authorization": vapid.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]}
        blocked = httpx.post(subs[2]["endpoint"], headers={"TTL": "0", **good})
        assert blocked.status_code == 429 and blocked.json()["errno"] == 116
        assert httpx.post(subs[3]["endpoint"], headers={"TTL": "0"}).status_code == 201

        time.sleep(1.2)                                  # every bucket refills
        assert httpx.post(f"{server.url}/subscribe").status_code == 201
        assert httpx.post(subs[0]["endpoint"], headers={"TTL": "0"}).status_code == 201
        assert httpx.post(subs[2]["endpoint"], headers={"TTL": "0", **good}).status_code == 201

        samples = scrape(port)
        for limit in ("subscribes_per_address", "pushes_per_subscription", "failed_vapid_per_address"):
            assert value(samples, "pushgate_rate_limited_total", limit=limit) == 1, limit
    finally:
        server.stop()
