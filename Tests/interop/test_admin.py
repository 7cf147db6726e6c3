"""Administering a live installation without SQL (issue 14): list, inspect and delete by topic id
(never a capability), backup beside a running server, restore into a stopped one."""
import json
import subprocess
import time

import httpx
import pytest

from harness import Postgres, Server, vapid_keys


def admin(server: Server, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(server.binary), *args, "--config", str(server.config)], capture_output=True, text=True, timeout=60)


def topic_of(sub: dict) -> str:
    return sub["mqtt_topic"].split("/")[-2]


def test_sqlite_list_inspect_backup_delete_restore(server, tmp_path):
    a, b = server.subscribe(), server.subscribe()
    listed = admin(server, "admin", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {line["topic"] for line in lines} == {topic_of(a), topic_of(b)}
    for secret in (a["endpoint"].rsplit("/", 1)[1], a["location"].rsplit("/", 1)[1]):
        assert secret not in listed.stdout
    inspected = json.loads(admin(server, "admin", "inspect", topic_of(a)).stdout)
    assert inspected["set_topic"] == a["mqtt_set_topic"].split("/")[1] and inspected["set_members"] == 1 and inspected["lists"] == 0

    # The server holds the SQLite file: a delete is refused (and says how), a backup is not.
    refused = admin(server, "admin", "delete", topic_of(a))
    assert refused.returncode == 1 and "in use by another Pushgate process" in refused.stderr
    backup = tmp_path / "backup.sqlite"
    made = admin(server, "backup", str(backup))
    assert made.returncode == 0 and backup.stat().st_size > 0, made.stderr
    assert admin(server, "restore", str(backup)).returncode == 1, "no restore under a running server"

    server.stop()
    deleted = admin(server, "admin", "delete", topic_of(a))
    assert deleted.returncode == 0, deleted.stderr
    server.start()
    assert httpx.post(a["endpoint"], headers={"TTL": "0"}).status_code == 410
    server.stop()
    restored = admin(server, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    server.start()
    assert httpx.post(a["endpoint"], headers={"TTL": "0"}).status_code == 201, "the backup had it"
    assert httpx.post(b["endpoint"], headers={"TTL": "0"}).status_code == 201
    (tmp_path / "garbage").write_text("not a database")
    server.stop()
    bad = admin(server, "restore", str(tmp_path / "garbage"))
    assert bad.returncode == 1 and "restore" in bad.stderr
    server.start()
    assert httpx.post(b["endpoint"], headers={"TTL": "0"}).status_code == 201, "a refused restore changed nothing"


def test_postgres_delete_beside_running_instances_and_backup(pushgate_bin, tmp_path, broker):
    database = Postgres()
    server = Server(pushgate_bin, tmp_path, broker, storage=database.storage())
    try:
        sub = server.subscribe()
        assert httpx.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 201
        deleted = admin(server, "admin", "delete", topic_of(sub))
        assert deleted.returncode == 0, deleted.stderr
        deadline = time.time() + 2
        status = 0
        while time.time() < deadline and status != 410:
            status = httpx.post(sub["endpoint"], headers={"TTL": "0"}).status_code
            time.sleep(0.02)
        assert status == 410, "the running instance heard of it"
        backup = tmp_path / "registry.dump"
        made = admin(server, "backup", str(backup))
        assert made.returncode == 0 and backup.stat().st_size > 0, made.stderr
    finally:
        server.stop()
        database.close()


def test_create_subscriptions_restricted_to_one_application_server(server):
    """`admin create-subscriptions --restricted-to`: a fleet for one application server. Restarted,
    every subscription takes that key's VAPID and no other (the registry load parses the key
    once for all of them, and shares it)."""
    vapid, public = vapid_keys()
    other, _ = vapid_keys()
    server.stop()
    bad = admin(server, "admin", "create-subscriptions", "--count", "1", "--restricted-to", public[:-4])
    assert bad.returncode != 0 and "--restricted-to" in bad.stderr
    assert json.loads(admin(server, "admin", "stats").stdout)["subscriptions"] == 0, "a refused run created nothing"
    made = admin(server, "admin", "create-subscriptions", "--count", "3", "--with-sets", "--restricted-to", public)
    assert made.returncode == 0, made.stderr
    created = [json.loads(line) for line in made.stdout.splitlines()]
    assert len(created) == 3 and all(sub["restricted"] for sub in created)
    server.start()

    def signed(key) -> dict:
        return {"TTL": "0", "Authorization": key.sign({"aud": server.url, "sub": "mailto:ops@example.com"})["Authorization"]}

    for sub in created:
        assert httpx.post(sub["endpoint"], headers={"TTL": "0"}).status_code == 401
        assert httpx.post(sub["endpoint"], headers=signed(other)).status_code == 403
        assert httpx.post(sub["endpoint"], headers=signed(vapid)).status_code == 201
