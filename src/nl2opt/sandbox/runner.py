"""run_sandboxed: one script, one fresh interpreter inside the OS sandbox, one SandboxResult."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from nl2opt.sandbox.bubblewrap import (
    WORKDIR,
    bwrap_command,
    isolation_problem,
    python_layout,
    unavailable_message,
)
from nl2opt.sandbox.errors import SandboxError, SandboxUnavailable
from nl2opt.sandbox.process import Launch, Run, execute
from nl2opt.sandbox.seccomp_filter import seccomp_pipe

RESULT_MARKER = "NL2OPT_RESULT "
SCRIPT_NAME = "main.py"
OUTPUT_CAP_BYTES = 64 * 1024
RESULT_CAP_BYTES = 1024 * 1024
FILE_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
OPEN_FILES_LIMIT = 512
PROCESS_LIMIT = 1024

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory_limit", "killed", "no_result"]


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
    isolation: str = "bubblewrap+seccomp"  # or "none" (unsafe_no_isolation=True)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# The child's first code, a plain file passed to `python -c` so the child never imports
# nl2opt (any Python >= 3.8 can run it, and importing the file does nothing).
_BOOTSTRAP = (Path(__file__).with_name("_child.py")).read_text(encoding="utf-8")


def run_sandboxed(code: str, *, files: dict[str, str | bytes] | None = None,
                  timeout: float = 60, cpu_seconds: float = 60, memory_mb: int = 2048,
                  disk_mb: int = 256, allow_network: bool = False, python: str | None = None,
                  unsafe_no_isolation: bool = False) -> SandboxResult:
    """Run `code` as a script in a sandboxed child Python and report what happened.

    `files` (relative name -> content) are placed in the child's working directory first.
    Limits: `timeout` wall-clock seconds (the whole sandbox is killed), `cpu_seconds` of
    CPU, `memory_mb` of address space, `disk_mb` for the working directory. Never raises
    for anything the code does. Raises SandboxError for unusable arguments, and
    SandboxUnavailable when no OS isolation can be built here, unless
    `unsafe_no_isolation` (only for code you wrote and trust) runs it without one.
    """
    _check_limits(timeout=timeout, cpu_seconds=cpu_seconds, memory_mb=memory_mb,
                  disk_mb=disk_mb)
    interpreter = _interpreter(python)
    if not unsafe_no_isolation:
        problem = isolation_problem(interpreter)
        if problem is not None:
            raise SandboxUnavailable(unavailable_message(problem))
    cpu_limit = max(1, math.ceil(cpu_seconds))
    with tempfile.TemporaryFile() as archive, _host_workdir(unsafe_no_isolation) as tmp:
        _pack_files(archive, code, files or {})
        config = {"files_fd": archive.fileno(), "script": SCRIPT_NAME,
                  "result_cap": RESULT_CAP_BYTES, "cpu": cpu_limit,
                  "memory": int(memory_mb) * 2**20, "fsize": FILE_SIZE_LIMIT_BYTES,
                  "nofile": OPEN_FILES_LIMIT, "nproc": PROCESS_LIMIT,
                  "allow_network": allow_network}
        result_read, result_write = os.pipe()
        config["result_fd"] = result_write
        if unsafe_no_isolation:
            launch, network = _unisolated(interpreter, config, os.path.realpath(tmp),
                                          allow_network)
        else:
            launch, network = _isolated(interpreter, config, disk_mb, allow_network)
        try:
            run = execute(launch, result_read, timeout, OUTPUT_CAP_BYTES, RESULT_CAP_BYTES)
        except OSError as error:
            raise SandboxError(f"cannot start the sandboxed interpreter: {error}") from error
    result, problem = _read_result(run)
    status, message = _classify(run, result, problem, timeout, cpu_limit, memory_mb,
                                config["workdir"], unsafe_no_isolation)
    return SandboxResult(status=status, returncode=run.returncode, stdout=run.stdout,
                         stderr=run.stderr, result=result if problem is None else None,
                         wall_seconds=run.wall_seconds, message=message,
                         cpu_seconds=run.cpu_seconds, network_isolation=network,
                         isolation="none" if unsafe_no_isolation else "bubblewrap+seccomp")


def _isolated(interpreter: str, config: dict, disk_mb: int,
              allow_network: bool) -> tuple[Launch, str]:
    # PID 1 ignores SIGXCPU, so SIGKILL comes at the limit. RLIMIT_NPROC counts all the
    # host user's threads (it could stop a solver's threads) and seccomp already denies fork.
    config.update(workdir=WORKDIR, cpu_grace=0, nproc=None)
    seccomp_fd = seccomp_pipe()
    command = [interpreter, "-I", "-B", "-u", "-c", _BOOTSTRAP, json.dumps(config)]
    argv = bwrap_command(shutil.which("bwrap") or "bwrap", python_layout(interpreter), command,
                         seccomp_fd=seccomp_fd, workdir_bytes=int(disk_mb) * 2**20,
                         allow_network=allow_network)
    launch = Launch(argv=argv, env=_child_environment(WORKDIR),
                    pass_fds=(config["files_fd"], config["result_fd"], seccomp_fd),
                    close_after_start=(config["result_fd"], seccomp_fd))
    return launch, "none" if allow_network else "namespace+audit"


def _unisolated(interpreter: str, config: dict, workdir: str,
                allow_network: bool) -> tuple[Launch, str]:
    """The old arrangement: a host temporary directory, rlimits and the audit hook only."""
    config.update(workdir=workdir, cpu_grace=2)
    argv = [interpreter, "-I", "-B", "-u", "-c", _BOOTSTRAP, json.dumps(config)]
    isolate = not allow_network and network_namespace_available()
    if isolate:
        argv = ["unshare", "--net", "--", *argv]
    launch = Launch(argv=argv, env=_child_environment(workdir), cwd=workdir,
                    pass_fds=(config["files_fd"], config["result_fd"]),
                    close_after_start=(config["result_fd"],))
    return launch, "none" if allow_network else ("namespace+audit" if isolate else "audit")


def _host_workdir(needed: bool):
    """A host temporary directory, only without OS isolation (else the work is a tmpfs)."""
    if not needed:
        return contextlib.nullcontext(None)
    return tempfile.TemporaryDirectory(prefix="nl2opt-sandbox-", ignore_cleanup_errors=True)


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


def _interpreter(python: str | None) -> str:
    interpreter = python or sys.executable
    if not shutil.which(interpreter):
        raise SandboxError(f"Python interpreter {interpreter!r} not found; pass an existing "
                           "executable as python=.")
    return os.path.abspath(interpreter)


def _check_limits(**limits: float) -> None:
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise SandboxError(f"{name} must be positive and finite, got {value!r}.")


def _pack_files(archive: IO[bytes], code: str, files: dict[str, str | bytes]) -> None:
    """One file for the child to unpack: a JSON line of [name, size] pairs, then the bytes."""
    reserved = {SCRIPT_NAME}
    contents = []
    for name, content in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts \
                or str(relative) in reserved:
            raise SandboxError(f"sandbox file name {name!r} is not allowed: use a relative "
                               f"path without '..', other than {sorted(reserved)}.")
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        contents.append((str(relative), data))
    contents.append((SCRIPT_NAME, code.encode("utf-8")))
    archive.write(json.dumps([[name, len(data)] for name, data in contents]).encode() + b"\n")
    for _, data in contents:
        archive.write(data)
    archive.flush()
    archive.seek(0)


def _child_environment(workdir: str) -> dict[str, str]:
    # Nothing from the parent's environment: API keys and tokens must not reach the code.
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8",
            # One BLAS thread and few malloc arenas keep the address space inside RLIMIT_AS.
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "MALLOC_ARENA_MAX": "2"}


def _read_result(run: Run) -> tuple[dict[str, Any] | None, str | None]:
    """The reported result and, if it is unusable, why (None when fine or absent). It comes
    through the result pipe, else from the last NL2OPT_RESULT line on stdout."""
    if run.result_problem is not None:
        return None, run.result_problem
    if run.result is not None:
        text = run.result.decode("utf-8", "replace")
    else:
        lines = [line for line in run.stdout.splitlines() if line.startswith(RESULT_MARKER)]
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


def _signal_number(returncode: int, isolated: bool) -> int:
    if returncode < 0:
        return -returncode
    # bubblewrap exits with 128 + N when the sandboxed process died of signal N.
    if isolated and 128 < returncode < 128 + signal.NSIG:
        return returncode - 128
    return 0


def _classify(run: Run, result: dict | None, problem: str | None, timeout: float,
              cpu_limit: int, memory_mb: int, workdir: str,
              unisolated: bool) -> tuple[Status, str]:
    tail = _tail(run.stderr, workdir)
    signal_number = _signal_number(run.returncode, not unisolated)
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
    """Last lines of stderr, with the working directory shown as '.' for readability."""
    text = stderr.replace(workdir + "/", "").replace(workdir, ".")
    return "\n".join(text.rstrip().splitlines()[-lines:])
