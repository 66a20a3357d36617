"""Read a script (or another small input file) given on the command line, safely.

Only regular files are read, and at most a cap of bytes: a directory, /dev/zero or a FIFO
is refused with a clear error instead of a traceback, an endless read or a hang.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nl2opt.sandbox.errors import SandboxError

SCRIPT_SIZE_LIMIT = 1024 * 1024


def read_small_file(path: Path, what: str, limit: int = SCRIPT_SIZE_LIMIT) -> bytes:
    """The bytes of regular file `path` (at most `limit`); SandboxError otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before the check below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise SandboxError(f"{what} {path}: {error.strerror or error}.") from error
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise SandboxError(f"{what} {path} is a directory; pass a file.")
        raise SandboxError(f"{what} {path} is not a regular file (a device, FIFO or socket); "
                           "pass a file.")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SandboxError(f"{what} {path} is larger than {limit // 1024} KB.")
    return data


def read_script(path: Path) -> str:
    """A UTF-8 Python script (a byte-order mark is allowed); SandboxError otherwise."""
    data = read_small_file(path, "script")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SandboxError(f"script {path} is not UTF-8 text (byte {error.start} is "
                           f"{data[error.start]:#04x}); save it as UTF-8.") from error
