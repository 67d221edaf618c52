"""Output, files, commands and network probes shared by every backend module."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class Failure(Exception):
    """What failed and where (service, port): the message a person reads, with the log file
    that probably explains it. Never carries a credential."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log = log


# ---------------------------------------------------------------- output


def svc_line(name: str, state: str, detail: str = "") -> None:
    """One short status line per service: "name   state   detail" (other scripts parse it)."""
    print(f"{name:<14} {state:<8} {detail}", flush=True)


def warn(message: str) -> None:
    print(f"WARN: {message}", file=sys.stderr, flush=True)


def report_failure(failure: Failure) -> None:
    """``ERROR: ...`` on stderr, then the tail of the log that probably explains why."""
    print(f"ERROR: {failure.message}", file=sys.stderr)
    log = failure.log
    if log is not None and log.is_file() and log.stat().st_size > 0:
        print(f"--- last lines of {log} ---", file=sys.stderr)
        lines = log.read_text(errors="replace").splitlines()[-20:]
        print("\n".join(lines), file=sys.stderr)
    elif log is not None:
        print(f"(nothing in {log} yet)", file=sys.stderr)
    sys.stderr.flush()


# ---------------------------------------------------------------- files


def write_file_atomic(dest: Path, text: str, mode: int = 0o644) -> None:
    """Write via a temp file in the same directory and a rename: readers never see half."""
    fd, tmp = tempfile.mkstemp(prefix=f"{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def env_quote(value: str) -> str:
    """VALUE as-is when it only holds safe characters, else single-quoted (readable by
    bash and by python-dotenv alike)."""
    if re.fullmatch(r"[A-Za-z0-9_./:=,@+%-]*", value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class Result:
    code: int
    out: str


def run(
    command: Sequence[str],
    *,
    log: Path | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    append: bool = False,
) -> Result:
    """Run a command to completion: its output goes to ``log`` when given (and is returned
    otherwise). A missing program or a timeout is an exit code, not an exception."""
    full_env = {**os.environ, **(env or {})}
    try:
        if log is not None:
            with log.open("a" if append else "w") as handle:
                done = subprocess.run(
                    list(command), input=stdin, stdout=handle, stderr=subprocess.STDOUT,
                    text=True, env=full_env, timeout=timeout, check=False,
                )  # fmt: skip
            return Result(done.returncode, "")
        done = subprocess.run(
            list(command), input=stdin, capture_output=True, text=True,
            env=full_env, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Result(124, "")
    except OSError:
        return Result(127, "")
    return Result(done.returncode, done.stdout)


def ok(command: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 60) -> bool:
    """The command exits 0 (its output discarded)."""
    return run(command, env=env, timeout=timeout).code == 0


# ---------------------------------------------------------------- network


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Http:
    code: int  # 0: nothing answered
    body: str


def http(
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    basic: tuple[str, str] | None = None,
    timeout: float = 5,
) -> Http:
    """One HTTP request; any status is an answer, no answer is code 0. Never raises."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if basic is not None:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Http(answer.status, answer.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        return Http(error.code, error.read().decode(errors="replace"))
    except (OSError, ValueError):
        return Http(0, "")
