"""CPU of each process taking part in a load test, sampled once a second, to say where the machine saturated.

Groups: the API process (``dcmms dev``: uvicorn, the Kinesis poller and the scheduler in one Python
process), ``dynamodb`` (AWS's DynamoDB Local, a Java process), ``kinesis`` (kinesalite, a Node process), ``moto`` (S3 and the other AWS
APIs), Redis and PostgreSQL (found by the port they listen on; PostgreSQL with its backends), and Locust
(with any children); the floor phase samples its one server process the same way. Values are in cores:
1.0 is one core busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import psutil


def listening_pid(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def stack_processes(state: dict[str, Any]) -> dict[str, tuple[int, bool]]:
    """{group: (pid, include children)} for the stack described by ``state``."""
    groups: dict[str, tuple[int, bool]] = {"api": (int(state["pid"]), False)}
    for name, url, children in (
        ("dynamodb", state.get("dynamodb_endpoint_url"), False),  # absent from an older stack's state file
        ("kinesis", state.get("kinesis_endpoint_url"), False),  # kinesalite, a Node process
        ("moto", state["aws_endpoint_url"], False),
        ("redis", state["redis_url"], False),
        ("postgres", state["database_url"], True),
    ):
        port = urlsplit(url).port if url else None
        pid = listening_pid(port) if port else None
        if pid is not None and all(pid != known for known, _ in groups.values()):  # one process, one group
            groups[name] = (pid, children)
    return groups


class CpuSampler(threading.Thread):
    """Samples until stopped; ``samples`` holds {t, cores: {group: cores}, system: cores}."""

    def __init__(self, groups: dict[str, tuple[int, bool]], interval_s: float = 1.0) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self.groups = dict(groups)
        self.interval_s = interval_s
        self.samples: list[dict[str, Any]] = []
        self._procs: dict[int, psutil.Process] = {}
        self._halt = threading.Event()

    def add(self, name: str, pid: int, children: bool = True) -> None:
        self.groups[name] = (pid, children)

    def _members(self, pid: int, children: bool) -> Iterable[psutil.Process]:
        root = self._procs.get(pid)
        if root is None:
            root = self._procs[pid] = psutil.Process(pid)
        yield root
        if children:
            for child in root.children(recursive=True):
                # Keep one Process per pid: cpu_percent measures since that object's previous call.
                yield self._procs.setdefault(child.pid, child)

    def _sample(self) -> dict[str, float]:
        cores: dict[str, float] = {}
        for name, (pid, children) in list(self.groups.items()):
            total = 0.0
            try:
                for proc in self._members(pid, children):
                    try:
                        total += proc.cpu_percent(None) / 100
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
            except psutil.NoSuchProcess:
                continue
            cores[name] = total
        return cores

    def run(self) -> None:
        cpus = psutil.cpu_count() or 1
        self._sample()  # the first call of cpu_percent only starts the clock
        psutil.cpu_percent(None)
        while not self._halt.wait(self.interval_s):
            cores = self._sample()
            self.samples.append({"t": time.time(), "cores": cores, "system": psutil.cpu_percent(None) / 100 * cpus})

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
