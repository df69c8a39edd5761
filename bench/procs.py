"""The real processes a benchmark runs: the Seam simulator, gunicorn, a Celery worker and beat.

Each is started in its own process group with its output in a log file, and stopped by that
group id (never by name), so a worker's pool processes go with it.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, over all its CPUs."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    # user, nice, system, idle, iowait, irq, softirq, steal: busy is all but idle and iowait.
    busy = sum(int(value) for index, value in enumerate(fields[:8]) if index not in (3, 4))
    return busy / os.sysconf("SC_CLK_TCK")


def wait_until(condition: Callable[[], bool], *, timeout: float, every: float = 0.2, what: str = "") -> None:
    """Poll ``condition`` until true; raises TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(every)


class Process:
    """One started process (and its group); ``stop`` ends it, ``kill`` is SIGKILL mid-run."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("a", encoding="utf-8")
        self._log.write(f"\n$ {' '.join(command)}\n")
        self._log.flush()
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and tools
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def cpu_seconds(self) -> float:
        """CPU time (user and system) used so far by the processes of its group still running."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command: state, ppid, pgrp, ... utime (12th), stime (13th).
            if int(fields[2]) == self.popen.pid:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: a worker dying mid-task, pool processes and all."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._log.close()


def start_simulator(
    *, env: dict[str, str], log_dir: Path, port: int, api_key: str, args: list[str], name: str = "simulator"
) -> Process:
    command = [PYTHON, "-m", "simulator", "--port", str(port), "--api-key", api_key, "--log-level", "WARNING"]
    process = Process(name, command + args, env=env, log_dir=log_dir)
    url = f"http://127.0.0.1:{port}/_simulator/clock"
    headers = {"Authorization": f"Bearer {api_key}"}
    wait_until(lambda: _answers(url, headers), timeout=20, what="the simulator")
    return process


def start_gunicorn(*, env: dict[str, str], log_dir: Path, port: int, workers: int, name: str = "gunicorn") -> Process:
    command = [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--log-level", "warning"]
    process = Process(name, command, env=env, log_dir=log_dir)
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/login/"), timeout=30, what="gunicorn")
    return process


def start_worker(
    *,
    env: dict[str, str],
    log_dir: Path,
    concurrency: int,
    name: str = "worker",
    pool: str = "prefork",
    host: str = "bench",
) -> Process:
    """A Celery worker named ``name@host`` (two of them on one machine stand for two hosts)."""
    command = [PYTHON, "-m", "celery", "-A", "config", "worker", "--pool", pool, "--concurrency", str(concurrency)]
    command += ["--prefetch-multiplier", "1", "-n", f"{name}@{host}", "-l", "INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    process = Process(name, command, env=env, log_dir=log_dir)
    wait_until(lambda: " ready." in process.log_text(), timeout=40, what="the Celery worker")
    return process


def start_beat(*, env: dict[str, str], log_dir: Path, schedule: Path, name: str = "beat") -> Process:
    """Celery beat with a schedule file of its own (each host's beat keeps its own)."""
    command = [PYTHON, "-m", "celery", "-A", "config", "beat", "-s", str(schedule), "-l", "WARNING"]
    return Process(name, command, env=env, log_dir=log_dir)


def _answers(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=1).status_code < 500
    except requests.RequestException:
        return False
