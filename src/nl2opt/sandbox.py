"""Run LLM-written Python (Pyomo, highspy, pyscipopt, OR-Tools scripts) in a locked-down child.

The code never runs in the calling process. `run_sandboxed` starts a fresh interpreter
(`python -I -B -u`, so no PYTHON* variables, no user site, no bytecode files) in its own
temporary directory, with a minimal environment (no API keys leak), its own session (the
whole process group is killed on timeout), and, where the OS allows it, its own empty
network namespace (`unshare --net`). Before the user code runs, a bootstrap
(`_sandbox_child.py`) sets resource limits (CPU, address space, file size, open files,
processes, no core dumps) and installs a `sys.addaudithook` guard that raises
`PermissionError("nl2opt sandbox: ...")` on:

* network use: creating sockets, connect, bind, DNS look-ups (unless allow_network);
* starting processes: fork, exec*, system, posix_spawn, subprocess, multiprocessing
  (`_posixsubprocess.fork_exec` is disarmed too, because it raises no audit event);
* writing anywhere but the working directory (and /dev/null);
* reading outside the working directory, the interpreter's installation (sys.prefix,
  sys.base_prefix, sys.path entries), /dev/{null,zero,random,urandom}, /proc/<own pid>,
  /proc/cpuinfo, /proc/meminfo, /sys/devices/system/cpu and /usr/share/zoneinfo;
* ctypes calls and loads (ctypes is pre-imported so that `import pyomo` still works),
  raising resource limits, tracing/profiling hooks and gc object enumeration (which
  could be used to tamper with the guard), killing other processes.

RLIMIT_NPROC is not enforced for root (as in CI containers), so the process block above is
what stops fork bombs there. Audit hooks are defence in depth, not a security boundary: they keep honest-but-sloppy
generated code from reaching the network, the user's files or the host, and they turn
such attempts into clear errors the LLM can repair. Run untrusted input in a container.

Result protocol (the LLM-code prompt tells models to use it):
    nl2opt_report(objective=..., status="optimal", values={"x[bread]": 3.0})
`nl2opt_report` is a global (and builtin) in the script; it takes JSON-serializable
keyword fields (numpy scalars and arrays are converted), at most 1 MB, and the last call
wins. A script may instead print one line `NL2OPT_RESULT {"objective": ...}`; the last such
line on stdout is used when nl2opt_report was never called.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from nl2opt.errors import Nl2OptError

RESULT_MARKER = "NL2OPT_RESULT "
SCRIPT_NAME = "main.py"
RESULT_FILE = ".nl2opt_result.json"
OUTPUT_CAP_BYTES = 64 * 1024
RESULT_CAP_BYTES = 1024 * 1024
FILE_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
OPEN_FILES_LIMIT = 512
PROCESS_LIMIT = 1024

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory_limit", "killed", "no_result"]


class SandboxError(Nl2OptError):
    """run_sandboxed was called with arguments it cannot honour (bad file names, limits)."""


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one sandboxed run; `message` says it in words and what to do."""

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    result: dict[str, Any] | None
    wall_seconds: float
    message: str
    cpu_seconds: float = 0.0
    network_isolation: str = "none"  # "namespace+audit", "audit" or "none" (allowed)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# The child's first code, a plain file passed to `python -c` so the child never imports
# nl2opt (any Python >= 3.8 can run it, and importing the file does nothing).
_BOOTSTRAP = (Path(__file__).with_name("_sandbox_child.py")).read_text(encoding="utf-8")


def run_sandboxed(code: str, *, files: dict[str, str | bytes] | None = None,
                  timeout: float = 60, cpu_seconds: int = 60, memory_mb: int = 2048,
                  allow_network: bool = False, python: str | None = None) -> SandboxResult:
    """Run `code` as a script in a sandboxed child Python and report what happened.

    `files` (relative name -> content) are written into the child's working directory
    first. Limits: `timeout` wall-clock seconds (the whole process group is killed),
    `cpu_seconds` of CPU, `memory_mb` of address space. Never raises for anything the
    code does; raises SandboxError only for unusable arguments.
    """
    _check_limits(timeout, cpu_seconds, memory_mb)
    interpreter = python or sys.executable
    if not shutil.which(interpreter):
        raise SandboxError(f"Python interpreter {interpreter!r} not found; pass an existing "
                           "executable as python=.")
    isolate = not allow_network and network_namespace_available()
    with tempfile.TemporaryDirectory(prefix="nl2opt-sandbox-",
                                     ignore_cleanup_errors=True) as tmp:
        workdir = os.path.realpath(tmp)
        _write_files(workdir, code, files or {})
        config = {"workdir": workdir, "script": os.path.join(workdir, SCRIPT_NAME),
                  "result_file": RESULT_FILE, "result_cap": RESULT_CAP_BYTES,
                  "cpu": max(1, math.ceil(cpu_seconds)), "memory": int(memory_mb) * 2**20,
                  "fsize": FILE_SIZE_LIMIT_BYTES, "nofile": OPEN_FILES_LIMIT,
                  "nproc": PROCESS_LIMIT, "allow_network": allow_network}
        argv = [interpreter, "-I", "-B", "-u", "-c", _BOOTSTRAP, json.dumps(config)]
        if isolate:
            argv = ["unshare", "--net", "--", *argv]
        run = _execute(argv, workdir, _child_environment(workdir), timeout)
        result, problem = _read_result(workdir, run.stdout)
    isolation = "none" if allow_network else ("namespace+audit" if isolate else "audit")
    status, message = _classify(run, result, problem, timeout, cpu_seconds, memory_mb, workdir)
    return SandboxResult(status=status, returncode=run.returncode, stdout=run.stdout,
                         stderr=run.stderr, result=result if problem is None else None,
                         wall_seconds=run.wall_seconds, message=message,
                         cpu_seconds=run.cpu_seconds, network_isolation=isolation)


@functools.cache
def network_namespace_available() -> bool:
    """Whether `unshare --net` works here (needs util-linux and root or user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    try:
        probe = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True,
                               timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def _check_limits(timeout: float, cpu_seconds: int, memory_mb: int) -> None:
    for name, value in (("timeout", timeout), ("cpu_seconds", cpu_seconds),
                        ("memory_mb", memory_mb)):
        if not value > 0:
            raise SandboxError(f"{name} must be positive, got {value!r}.")


def _write_files(workdir: str, code: str, files: dict[str, str | bytes]) -> None:
    reserved = {SCRIPT_NAME, RESULT_FILE, RESULT_FILE + ".tmp"}
    for name, content in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts \
                or str(relative) in reserved:
            raise SandboxError(f"sandbox file name {name!r} is not allowed: use a relative "
                               f"path without '..', other than {sorted(reserved)}.")
        target = os.path.join(workdir, *relative.parts)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        mode, encoding = ("wb", None) if isinstance(content, bytes) else ("w", "utf-8")
        with open(target, mode, encoding=encoding) as handle:
            handle.write(content)
    with open(os.path.join(workdir, SCRIPT_NAME), "w", encoding="utf-8") as handle:
        handle.write(code)


def _child_environment(workdir: str) -> dict[str, str]:
    # Nothing from the parent's environment: API keys and tokens must not reach the code.
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8",
            # One BLAS thread and few malloc arenas keep the address space inside RLIMIT_AS.
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "MALLOC_ARENA_MAX": "2"}


class _Capture:
    """Drains one pipe in a thread, keeping the head and tail within a byte cap."""

    def __init__(self, stream, cap: int) -> None:
        self._stream, self._head_cap, self._tail_cap = stream, cap * 3 // 4, cap // 4
        self._head, self._tail, self.total = bytearray(), bytearray(), 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        fd = self._stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except (OSError, ValueError):  # closed under us after a join timeout
                return
            if not chunk:
                return
            self.total += len(chunk)
            room = self._head_cap - len(self._head)
            self._head += chunk[:max(room, 0)]
            self._tail += chunk[max(room, 0):]
            if len(self._tail) > 2 * self._tail_cap:
                del self._tail[:-self._tail_cap]

    def text(self, join_timeout: float = 5.0) -> str:
        self._thread.join(join_timeout)
        self._stream.close()
        tail = bytes(self._tail[-self._tail_cap:]) if self._tail_cap else b""
        dropped = self.total - len(self._head) - len(tail)
        middle = (f"\n[... {dropped} bytes cut by the nl2opt sandbox ...]\n".encode()
                  if dropped > 0 else b"")
        return (bytes(self._head) + middle + tail).decode("utf-8", "replace")


@dataclass(frozen=True)
class _Run:
    returncode: int
    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float
    timed_out: bool


def _execute(argv: list[str], workdir: str, env: dict[str, str], timeout: float) -> _Run:
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, close_fds=True)
    out, err = _Capture(proc.stdout, OUTPUT_CAP_BYTES), _Capture(proc.stderr, OUTPUT_CAP_BYTES)
    timed_out = False
    # wait4 instead of Popen.wait: its rusage tells a CPU-limit SIGKILL from other kills.
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started >= timeout:
            timed_out = True
            _kill_group(proc.pid)
            pid, wait_status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    _kill_group(proc.pid)  # stragglers that share the session, if any
    return _Run(returncode=proc.returncode, stdout=out.text(), stderr=err.text(),
                wall_seconds=wall, cpu_seconds=usage.ru_utime + usage.ru_stime,
                timed_out=timed_out)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_result(workdir: str, stdout: str) -> tuple[dict[str, Any] | None, str | None]:
    """The reported result and, if it is unusable, why (None when fine or absent)."""
    path = os.path.join(workdir, RESULT_FILE)
    if os.path.isfile(path):
        if os.path.getsize(path) > RESULT_CAP_BYTES:
            return None, f"the reported result is larger than {RESULT_CAP_BYTES} bytes"
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    else:
        lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARKER)]
        if not lines:
            return None, None
        text = lines[-1][len(RESULT_MARKER):]
        if len(text) > RESULT_CAP_BYTES:
            return None, f"the reported result is larger than {RESULT_CAP_BYTES} bytes"
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"the reported result is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"the reported result is a JSON {type(value).__name__}, not an object"
    return value, None


def _classify(run: _Run, result: dict | None, problem: str | None, timeout: float,
              cpu_limit: int, memory_mb: int, workdir: str) -> tuple[Status, str]:
    tail = _tail(run.stderr, workdir)
    signal_number = -run.returncode if run.returncode < 0 else 0
    if run.timed_out:
        return "timeout", (f"Stopped after {timeout:g} s of wall-clock time. Set a solver time "
                           f"limit well below that, shrink the model, or raise the timeout.")
    if signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL
                                           and run.cpu_seconds >= cpu_limit - 0.5):
        return "cpu_limit", (f"Stopped after {run.cpu_seconds:.1f} s of CPU time (limit "
                             f"{cpu_limit} s). Set a solver time limit or simplify the model.")
    if run.returncode != 0 and _out_of_memory(run.stderr):
        return "memory_limit", (f"Ran out of memory (limit {memory_mb} MB). Avoid dense or "
                                f"huge intermediate structures, or raise memory_mb.\n{tail}")
    if signal_number:
        name = signal.Signals(signal_number).name
        return "killed", f"The process was killed by {name}.\n{tail}".rstrip()
    if run.returncode != 0:
        blocked = [line for line in tail.splitlines() if "nl2opt sandbox:" in line]
        if blocked:
            return "error", (f"The code tried something the sandbox blocks: "
                             f"{blocked[-1].strip()}\n{tail}")
        return "error", f"The code failed (exit code {run.returncode}):\n{tail}"
    if problem is not None:
        return "no_result", f"The code finished, but {problem}. Call nl2opt_report(...) once."
    if result is None:
        return "no_result", ("The code finished without reporting a result. End the script with "
                             "nl2opt_report(status=..., objective=..., values=...).")
    return "ok", "The code ran and reported a result."


def _out_of_memory(stderr: str) -> bool:
    end = stderr[-4096:]
    return any(sign in end for sign in ("MemoryError", "std::bad_alloc",
                                        "Cannot allocate memory", "out of memory"))


def _tail(stderr: str, workdir: str, lines: int = 20) -> str:
    """Last lines of stderr, with the temporary directory shown as '.' for readability."""
    text = stderr.replace(workdir + "/", "").replace(workdir, ".")
    return "\n".join(text.rstrip().splitlines()[-lines:])
