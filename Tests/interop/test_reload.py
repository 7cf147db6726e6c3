"""SIGHUP (issue 14): access rules, rate limits and the log level change under load without a
dropped connection; a section that needs a restart is named in the log and left as it was."""
import signal
import time

import httpx

from harness import Server


def hup_and_wait(server: Server, marker_count: int) -> str:
    server.process.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while server.log.read_text().count("config: reloaded") < marker_count and time.time() < deadline:
        time.sleep(0.05)
    return server.log.read_text()


def test_sighup_applies_access_rate_limits_and_level_and_names_what_needs_a_restart(pushgate_bin, tmp_path, broker):
    server = Server(pushgate_bin, tmp_path, broker, log_level="info",
                    extra="rate_limits:\n  pushes_per_subscription: {per_second: 1, burst: 1}\n")
    try:
        client = httpx.Client()
        sub = server.subscribe(client=client)
        assert client.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 201
        assert client.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 429

        text = server.config.read_text()
        text = text.replace("pushes_per_subscription: {per_second: 1, burst: 1}", "pushes_per_subscription: off")
        text = text.replace("level: info", "level: warning")
        text += 'access:\n  subscribe_tokens: ["a-long-enough-secret-token"]\n  require_vapid: true\n'
        server.config.write_text(text)
        log = hup_and_wait(server, 1)
        assert "config: reloaded" in log
        applied = [line for line in log.splitlines() if "config: reloaded" in line][-1]
        assert "access" in applied and "rate_limits" in applied and "logging.level" in applied
        # Subscribes need the token now; pushes need VAPID; the push limit is off.
        assert client.post(f"{server.url}/subscribe").status_code == 401
        assert client.post(f"{server.url}/subscribe", headers={"Authorization": "Bearer a-long-enough-secret-token"}).status_code == 201
        assert client.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 401
        # warning: no more info-level access lines.
        before = server.log.read_text().count("message\":\"request") + server.log.read_text().count(" request")
        client.get(f"{server.url}/healthz")
        time.sleep(0.2)
        assert server.log.read_text().count("message\":\"request") + server.log.read_text().count(" request") == before
        client.close()
    finally:
        server.stop()


def test_limits_reload_and_a_change_that_needs_a_restart_is_named_and_not_applied(pushgate_bin, tmp_path, broker):
    server = Server(pushgate_bin, tmp_path, broker)
    try:
        sub = server.subscribe()
        assert httpx.post(sub["endpoint"], headers={"TTL": "3600"}).headers["ttl"] == "3600"
        server.config.write_text(server.config.read_text() + "limits:\n  max_ttl_seconds: 60\nlists:\n  max_members: 5\n")
        log = hup_and_wait(server, 1)
        line = [line for line in log.splitlines() if "need a restart" in line][-1]
        assert "sections=lists" in line
        applied = [line for line in log.splitlines() if "config: reloaded" in line][-1]
        assert "limits" in applied
        answered = httpx.post(sub["endpoint"], headers={"TTL": "3600"})
        assert answered.status_code == 201 and answered.headers["ttl"] == "60", "the new TTL cap is in force"
    finally:
        server.stop()
