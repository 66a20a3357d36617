"""Start the sandboxed child, drain its pipes, enforce the wall clock, and reap it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

_HEADER_DIGITS = 20  # a frame header is the payload's length in decimal, then a newline


class _Drain:
    """Reads one pipe to its end in a daemon thread, handing each chunk to `take`."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except (OSError, ValueError):  # closed under us after a join timeout
                return
            if not chunk:
                return
            self.take(chunk)

    def take(self, chunk: bytes) -> None:
        raise NotImplementedError

    def finish(self, join_timeout: float) -> None:
        # A process that escaped the wait (only possible without OS isolation) may hold the
        # pipe open: stop waiting after join_timeout.
        self._thread.join(join_timeout)
        try:
            os.close(self._fd)
        except OSError:
            pass


class OutputCapture(_Drain):
    """stdout or stderr, keeping the head and tail within a byte cap."""

    def __init__(self, fd: int, cap: int) -> None:
        self._head_cap, self._tail_cap = cap * 3 // 4, cap // 4
        self._head, self._tail, self.total = bytearray(), bytearray(), 0
        super().__init__(fd)

    def take(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = max(self._head_cap - len(self._head), 0)
        self._head += chunk[:room]
        self._tail += chunk[room:]
        if len(self._tail) > 2 * self._tail_cap:
            del self._tail[:-self._tail_cap]

    def text(self, join_timeout: float = 5.0) -> str:
        self.finish(join_timeout)
        tail = bytes(self._tail[-self._tail_cap:]) if self._tail_cap else b""
        dropped = self.total - len(self._head) - len(tail)
        middle = (f"\n[... {dropped} bytes cut by the nl2opt sandbox ...]\n".encode()
                  if dropped > 0 else b"")
        return (bytes(self._head) + middle + tail).decode("utf-8", "replace")


class ResultChannel(_Drain):
    """The result pipe: frames b"<length>\\n<payload>", of which the last complete one
    counts. Anything else (the script writes to the pipe itself) spoils the channel."""

    def __init__(self, fd: int, cap: int) -> None:
        self._cap, self._buffer = cap, bytearray()
        self.payload: bytes | None = None
        self.problem: str | None = None
        super().__init__(fd)

    def take(self, chunk: bytes) -> None:
        if self.problem is not None:
            return  # framing is lost: drain and ignore the rest
        self._buffer += chunk
        while self.problem is None and self._next_frame():
            pass

    def _next_frame(self) -> bool:
        end = self._buffer.find(b"\n", 0, _HEADER_DIGITS + 1)
        if end < 0:
            if len(self._buffer) > _HEADER_DIGITS:
                self.problem = "the result channel carried something other than nl2opt_report"
            return False
        header = bytes(self._buffer[:end])
        if not header.isdigit():
            self.problem = "the result channel carried something other than nl2opt_report"
            return False
        size = int(header)
        if size > self._cap:
            self.problem = f"the reported result is larger than {self._cap} bytes"
            return False
        if len(self._buffer) < end + 1 + size:
            return False
        self.payload = bytes(self._buffer[end + 1:end + 1 + size])
        del self._buffer[:end + 1 + size]
        return True


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float
    timed_out: bool
    result: bytes | None
    result_problem: str | None


@dataclass(frozen=True)
class Launch:
    """How to start one sandboxed child: argv, cwd, environment, descriptors it inherits."""

    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    close_after_start: tuple[int, ...]  # the result pipe's write end, the seccomp pipe
    cwd: str | None = None


def execute(launch: Launch, result_read_fd: int, timeout: float, output_cap: int,
            result_cap: int) -> Run:
    """Run the child to its end or to the wall-clock limit (then kill its process group)."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(launch.argv, cwd=launch.cwd, env=launch.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                close_fds=True, pass_fds=launch.pass_fds)
    except OSError:
        os.close(result_read_fd)
        raise
    finally:
        for fd in launch.close_after_start:  # the child holds the only copies now
            os.close(fd)
    out = OutputCapture(os.dup(proc.stdout.fileno()), output_cap)
    err = OutputCapture(os.dup(proc.stderr.fileno()), output_cap)
    proc.stdout.close()
    proc.stderr.close()
    channel = ResultChannel(result_read_fd, result_cap)
    timed_out, wait_status, usage = _wait(proc.pid, started, timeout)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    kill_group(proc.pid)  # stragglers that share the session, if any
    channel.finish(5.0)
    return Run(returncode=proc.returncode, stdout=out.text(), stderr=err.text(),
               wall_seconds=wall, cpu_seconds=usage.ru_utime + usage.ru_stime,
               timed_out=timed_out, result=channel.payload, result_problem=channel.problem)


def _wait(pid: int, started: float, timeout: float):
    # wait4 instead of Popen.wait: its rusage tells a CPU-limit SIGKILL from other kills.
    while True:
        done, wait_status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return False, wait_status, usage
        if time.monotonic() - started >= timeout:
            kill_group(pid)
            _, wait_status, usage = os.wait4(pid, 0)
            return True, wait_status, usage
        time.sleep(0.01)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
