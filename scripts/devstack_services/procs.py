"""Processes: starting daemons and waiting for readiness (mirakuru), pids (psutil, which
mirakuru depends on), the started-by-us registry and the lock against concurrent runs."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import psutil
from mirakuru import AlreadyRunning, Executor, ProcessExitedWithError, TCPExecutor, TimeoutExpired

from devstack_services.common import Failure, svc_line, warn, write_file_atomic

HOST = "127.0.0.1"
Check = Callable[[], bool]


class _Outliving(Executor):
    """What makes a mirakuru executor fit for daemons that must outlive this tool.

    mirakuru marks its children with an environment variable and kills every marked
    process at interpreter exit, and kills the process when a start times out; the
    services here are meant to keep running after ``up`` returns (and a half-started one
    is left for ``down``, which finds it by its pid file). So: no marker, and "kill" only
    lets go of the process.
    """

    @property
    def envvars(self) -> dict[str, str]:
        return {**os.environ, **self._envvars}

    def kill(self, wait: bool = True, sig: int | None = None) -> Any:
        return self  # the process stays ours until detach()

    def detach(self) -> int | None:
        """Let go of the started process (it keeps running); its pid."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is not None:
            process.wait()
        return process.pid


class NotReady(Failure):
    """The process started but did not become ready in time (it is left running)."""


class Daemon(_Outliving, TCPExecutor):  # type: ignore[misc]
    """A service process: refused when its port is already taken (mirakuru's pre-start
    check), in its own session (as nohup and a shell's ``&`` gave), output to its log,
    ready when ``ready`` says so. A command that daemonizes and exits 0 is fine."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int,
        ready: Check,
        timeout: float,
        output: IO[str],
        cwd: Path | None,
        env: dict[str, str] | None,
    ) -> None:
        super().__init__(
            list(command), host=HOST, port=port, timeout=timeout, sleep=0.2, envvars=env,
            cwd=str(cwd) if cwd else None, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._ready = ready

    def after_start_check(self) -> bool:
        return self._ready()


class _Probe(_Outliving):
    """A readiness wait on a process this run did not just start (a node half up, a
    cluster settling, a lock): mirakuru's deadline and polling around ``check``; the
    process it runs is ``true``."""

    def __init__(self, check: Check, timeout: float, interval: float) -> None:
        super().__init__(["true"], timeout=timeout, sleep=interval, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._check = check

    def pre_start_check(self) -> bool:
        return False

    def after_start_check(self) -> bool:
        return self._check()


def wait_until(check: Check, timeout: float, interval: float = 0.2) -> bool:
    """``check`` held within ``timeout`` seconds (polled every ``interval``; checked at
    least once, so a timeout of 0 asks once)."""
    if check():
        return True
    probe = _Probe(check, timeout, interval)
    try:
        probe.start()
    except TimeoutExpired:
        return False
    finally:
        probe.detach()
    return True


def start_daemon(
    command: Sequence[str],
    *,
    port: int,
    ready: Check,
    timeout: float,
    log: Path,
    failed: str,
    not_ready: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    append: bool = False,
    not_ready_log: Path | None = None,
    pidfile: Path | None = None,
) -> int:
    """Start ``command`` and wait until ``ready``; the pid of the started command. Raises
    Failure(``failed``) when it exits non-zero, NotReady(``not_ready``) after ``timeout``.
    ``pidfile`` gets the pid whatever happens (a slow server is still ours to stop)."""
    with log.open("a" if append else "w") as output:
        daemon = Daemon(command, port=port, ready=ready, timeout=timeout, output=output, cwd=cwd, env=env)
        try:
            daemon.start()
        except AlreadyRunning:
            raise Failure(f"{failed}: {HOST}:{port} is already in use", log) from None
        except ProcessExitedWithError as error:
            raise Failure(f"{failed} (exit code {error.exit_code})", log) from None
        except TimeoutExpired:
            raise NotReady(not_ready, not_ready_log or log) from None
        finally:
            pid = daemon.detach()
            if pidfile is not None and pid:
                pidfile.write_text(f"{pid}\n")
    return pid or 0


# ---------------------------------------------------------------- pids


def read_pid(path: Path) -> int | None:
    """The pid stored in ``path`` (its first line), None if none."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def pid_matches(pid: int | None, pattern: str) -> bool:
    """``pid`` is alive and its command line contains ``pattern``, so a recycled pid is not
    mistaken for ours."""
    if not pid:
        return False
    try:
        return pattern in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def pidfile_matches(path: Path, pattern: str) -> bool:
    return pid_matches(read_pid(path), pattern)


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def terminate(pid: int) -> bool:
    """SIGTERM (False: no such process, or not ours to signal)."""
    try:
        psutil.Process(pid).terminate()
    except psutil.Error:
        return False
    return True


def terminate_ours(pidfile: Path, pattern: str) -> int | None:
    """SIGTERM to the server whose pid ``pidfile`` holds when it still runs ``pattern``
    (a server this tool started); its pid, or None. The caller waits with :func:`stop_pid`,
    so several servers stop in parallel."""
    pid = read_pid(pidfile)
    if pid is not None and pid_matches(pid, pattern):
        terminate(pid)
        return pid
    return None


def stop_pid(pid: int, seconds: float = 20) -> None:
    """SIGTERM, wait, then SIGKILL."""
    if not terminate(pid):
        return
    if not wait_until(lambda: pid_gone(pid), seconds):
        warn(f"pid {pid} did not stop after {seconds:g}s, sending SIGKILL")
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            return
        wait_until(lambda: pid_gone(pid), 5)


# ------------------------------------------------- started-by-us registry
# <run>/started-by-us holds one "service pid" line for each preinstalled service
# (postgres, mariadb, redis, rabbitmq) that `up` itself started, so `down` never stops a
# service it found already running.


def _registry(run: Path) -> list[tuple[str, str]]:
    try:
        lines = (run / "started-by-us").read_text().splitlines()
    except OSError:
        return []
    return [(parts[0], parts[1] if len(parts) > 1 else "") for parts in (line.split() for line in lines) if parts]


def unmark_started(run: Path, service: str) -> None:
    path = run / "started-by-us"
    if not path.exists():
        return
    kept = [f"{name} {pid}\n" for name, pid in _registry(run) if name != service]
    if kept:
        write_file_atomic(path, "".join(kept), 0o644)
    else:
        path.unlink(missing_ok=True)


def mark_started(run: Path, service: str, pid: int) -> None:
    unmark_started(run, service)
    with (run / "started-by-us").open("a") as handle:
        handle.write(f"{service} {pid}\n")


def started_pid(run: Path, service: str) -> int | None:
    """The pid recorded for ``service`` (0 when it was not known), None if none."""
    for name, pid in _registry(run):
        if name == service and pid.isdigit():
            return int(pid)
    return None


# ---------------------------------------------------------------- lock


@contextmanager
def locked(run: Path, seconds: float = 300) -> Iterator[None]:
    """Hold ``<run>/.lock`` (flock, as the shell tool took it) for an up or a down. The
    file is opened close-on-exec, so no daemon started meanwhile inherits it."""
    path = run / ".lock"
    with path.open("w") as handle:

        def take() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not wait_until(take, seconds):
            raise Failure(f"another scripts/services.sh up/down is still running (lock {path})")
        yield


def down_preinstalled(run: Path, name: str, pattern: str, stopper: Callable[[int], None]) -> None:
    """Stop a preinstalled service only if `up` recorded starting it and that same process
    still runs; one line saying which."""
    pid = started_pid(run, name)
    if pid is None:
        svc_line(name, "kept", "not started by services.sh")
        return
    if pid != 0 and pid_matches(pid, pattern):
        stopper(pid)
        svc_line(name, "stopped", f"pid {pid}")
    else:
        svc_line(name, "gone", f"recorded pid {pid} no longer runs")
    unmark_started(run, name)
