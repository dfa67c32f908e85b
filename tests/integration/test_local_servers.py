"""The launcher's servers really answer, leave nothing behind when stopped, and can be crashed on purpose."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import boto3
import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dcmms_dev.servers import START_TIMEOUT, LocalServers, start_redis


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _process_gone(pid: int) -> bool:
    """Gone or a zombie: the servers are not our children once daemonized, and reaping them is not our job."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _redis_client(url: str) -> redis.Redis:
    """No retries, so a dead server fails the first command instead of after a backoff."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))


def test_servers_answer_and_leave_nothing_behind(tmp_path: Path) -> None:
    with LocalServers(tmp_path) as servers:
        client = _redis_client(servers.redis.url)
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
        client.close()

        with psycopg.connect(servers.postgres.url) as conn:
            conn.execute("CREATE TABLE turbine (id int PRIMARY KEY, name text NOT NULL)")
            conn.execute("INSERT INTO turbine VALUES (1, 'T-01'), (2, 'T-02')")
            assert conn.execute("SELECT name FROM turbine ORDER BY id").fetchall() == [("T-01",), ("T-02",)]

        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=servers.dynamodb.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert dynamodb.list_tables()["TableNames"] == []  # DynamoDB Local, in memory: a fresh database

        s3 = boto3.client(
            "s3",
            endpoint_url=servers.moto.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert s3.list_buckets()["Buckets"] == []

        started = [servers.dynamodb, servers.moto, servers.redis, servers.postgres]
        assert len({server.port for server in started}) == 4
        # and each knows how long it took to answer (the banner of `make run` shows it)
        assert all(0 < server.startup_s < START_TIMEOUT for server in started), [s.startup_s for s in started]

    for server in started:
        assert not _accepts_connections(server.port), server.name
        assert _process_gone(server.pid), server.name
        assert not server.alive, server.name
    assert tmp_path.is_dir(), "a workdir the caller chose is left in place"


def test_temporary_workdir_is_removed_on_exit() -> None:
    with LocalServers() as servers:
        workdir = servers.workdir
        assert (workdir / "postgres.log").is_file()
    assert not workdir.exists()


def test_kill_simulates_a_crash(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    try:
        assert _redis_client(server.url).ping()
        assert server.startup_s > 0
        server.kill()
        assert _process_gone(server.pid)
        with pytest.raises(redis.ConnectionError, match="refused"):
            _redis_client(server.url).ping()
        server.stop()
        server.stop()
    finally:
        server.stop()


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(RuntimeError, match="(?s)redis exited during startup.*in use"):
            start_redis(tmp_path, port=taken)


def test_a_process_ended_by_sigterm_stops_the_servers_it_started(tmp_path: Path) -> None:
    """`kill`, `pkill` and `timeout` send SIGTERM: the servers stop with the process instead of outliving it."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import sys, time; from pathlib import Path; from dcmms_dev.servers import start_redis; "
        f"s = start_redis(Path({str(tmp_path)!r})); print(s.port, s.pid, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    port, pid = (int(x) for x in proc.stdout.readline().split())
    assert _accepts_connections(port)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _process_gone(pid):
        time.sleep(0.1)
    assert _process_gone(pid) and not _accepts_connections(port)
