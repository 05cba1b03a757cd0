"""Processes under test: start pinned, wait until ready, measure CPU and memory from /proc, stop.

CPU time is ``utime + stime`` from ``/proc/<pid>/stat`` for the process and
every live descendant, plus ``cutime + cstime`` (children already reaped), so
multi-process servers are counted whole. Memory is the sum of ``VmRSS`` (now)
and ``VmHWM`` (peak) over the same tree.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pinned(command: Sequence[str], core: int | None) -> list[str]:
    """Prefix ``command`` with ``taskset`` (which execs it: the pid stays the same)."""
    return ["taskset", "-c", str(core), *command] if core is not None else list(command)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    spawned: float
    ready_s: float | None = None
    extra_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(
    name: str,
    command: Sequence[str],
    *,
    core: int | None,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        spawned = time.perf_counter()
        process = subprocess.Popen(
            pinned(command, core),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return Server(name, process, log, spawned)


def wait_ready(server: Server, url: str, timeout: float = 60.0) -> float:
    """Poll ``url`` until it answers 200; return seconds since the process was spawned."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    server.ready_s = time.perf_counter() - server.spawned
                    return server.ready_s
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{server.name} was not ready at {url} within {timeout:.0f} s:\n{server.tail()}")


def stop(server: Server, grace: float = 10.0) -> None:
    """End the server's process group (it was started in a session of its own)."""
    if not server.alive():
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.process.wait(5)
    except ProcessLookupError:
        pass


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(p) for p in text.split())
    except OSError:
        pass
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces; fields resume after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds used so far by ``pids`` and their descendants (reaped children included)."""
    ticks = 0
    for root in pids:
        for pid in tree(root):
            try:
                fields = _stat_fields(pid)
            except OSError:
                continue
            # Fields 14..17 of stat (1-based): utime, stime, cutime, cstime; the slice starts at field 3.
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLOCK_TICKS


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pids: Sequence[int]) -> float:
    return sum(_status_kb(p, "VmRSS") for root in pids for p in tree(root)) / 1024


def peak_rss_mb(pids: Sequence[int]) -> float:
    return sum(_status_kb(p, "VmHWM") for root in pids for p in tree(root)) / 1024


def settle(pids: Sequence[int], *, idle_share: float = 0.03, window: float = 0.25, limit: float = 15.0) -> float:
    """Wait until ``pids`` use less than ``idle_share`` of a core (a backlog has drained); return seconds waited."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_seconds(pids) - before <= idle_share * window + 1 / CLOCK_TICKS:
            break
    return time.perf_counter() - began


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CoreTimes = dict[int, tuple[int, int, int]]


def core_times() -> CoreTimes:
    """Per core, jiffies from /proc/stat: (busy, total, in processes).

    Busy includes interrupt and softirq time (loopback networking is mostly
    softirq, charged to no process); "in processes" is user + nice + system only.
    """
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            # user nice system idle iowait irq softirq steal (guest time is already in user).
            counted = [int(v) for v in values[:8]]
            idle = counted[3] + (counted[4] if len(counted) > 4 else 0)
            times[int(name[3:])] = (sum(counted) - idle, sum(counted), sum(counted[:3]))
    return times


def busy_percent(before: CoreTimes, after: CoreTimes, core: int | None) -> float:
    """Share of the time ``core`` was busy between two :func:`core_times` readings (all cores if None)."""
    cores = [core] if core is not None else list(after)
    busy = sum(after[c][0] - before[c][0] for c in cores)
    total = sum(after[c][1] - before[c][1] for c in cores)
    return 100.0 * busy / total if total else math.nan


def own_seconds() -> float:
    """CPU seconds of this harness and its reaped children (the load generators)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class Meter:
    """CPU of the server under test, busy share of each core, and CPU used by anything else on the machine.

    ``foreign_pct`` (in % of one core) is the time the machine spent in processes
    minus what the server, the fake upstreams, the load generators and this
    harness used: other people's processes sharing the machine. A high value
    means the cell was disturbed.
    """

    def __init__(self, server_pids: Sequence[int], known_pids: Sequence[int]) -> None:
        self.server_pids = list(dict.fromkeys(server_pids))
        self.other_pids = [p for p in dict.fromkeys(known_pids) if p not in self.server_pids]
        self.began = time.perf_counter()
        self.cores = core_times()
        self.server = cpu_seconds(self.server_pids)
        self.known = cpu_seconds(self.other_pids) + own_seconds()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.began
        cores = core_times()
        server = cpu_seconds(self.server_pids) - self.server
        known = cpu_seconds(self.other_pids) + own_seconds() - self.known
        in_processes = sum(cores[c][2] - self.cores[c][2] for c in cores) / CLOCK_TICKS
        return {
            "server_cpu_s": server,
            "wall_s": wall,
            "foreign_pct": max(0.0, 100.0 * (in_processes - server - known) / wall) if wall else math.nan,
            "load_core_busy": busy_percent(self.cores, cores, 0),
            "server_core_busy": busy_percent(self.cores, cores, 1) if 1 in cores else math.nan,
        }


def wait_quiet(known_pids: Sequence[int], limit_pct: float, max_wait: float, window: float = 0.5) -> float:
    """Wait (at most ``max_wait`` s) until other processes use under ``limit_pct`` % of a core; return the wait."""
    began = time.perf_counter()
    while time.perf_counter() - began < max_wait:
        meter = Meter([], known_pids)
        time.sleep(window)
        if meter.stop()["foreign_pct"] <= limit_pct:
            break
    return time.perf_counter() - began


def thread_names(pid: int) -> dict[int, str]:
    """The kernel's name (``comm``) of each thread of ``pid``: Rust runtimes name theirs, Python 3.11 does not."""
    names = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            names[int(task)] = Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
        except OSError:
            continue
    return names


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread of ``pid`` (the main thread's id is the pid)."""
    seconds = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{task}/stat").read_text()
        except OSError:
            continue
        values = fields[fields.rindex(")") + 2 :].split()
        seconds[int(task)] = (int(values[11]) + int(values[12])) / CLOCK_TICKS
    return seconds


def cpu_by_thread_name(pid: int, before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds between two :func:`thread_cpu` readings, summed per thread name; ``main`` is the main thread."""
    names = thread_names(pid)
    grouped: dict[str, float] = {}
    for tid, seconds in after.items():
        name = "main" if tid == pid else names.get(tid, "?")
        grouped[name] = grouped.get(name, 0.0) + seconds - before.get(tid, 0.0)
    return grouped
