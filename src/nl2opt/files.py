"""Reading a file someone named without hanging or running out of memory.

A path may name a FIFO (open blocks until a writer comes), a device such as
/dev/zero (reading never ends) or a folder, so such files are opened without
blocking, looked at with fstat, and read only when they are regular files no
larger than a cap. Data files (`formulation.datafiles`) and library imports
share these checks; each wraps the reason in its own error.
"""

from __future__ import annotations

import os
import stat

# Without blocking: opening a FIFO that has no writer returns at once, and fstat refuses it.
NONBLOCKING_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_problem(info: os.stat_result, limit: int, limit_hint: str = "") -> str | None:
    """Why a file with this status is not read ('is a FIFO (named pipe), not a regular
    file', 'is 70.0 MB, over the 64.0 MB limit' + `limit_hint`), or None when it may be
    read."""
    for test, kind in _KINDS:
        if test(info.st_mode):
            return f"is {kind}, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size > limit:
        return f"is {megabytes(info.st_size)}, over the {megabytes(limit)} limit{limit_hint}"
    return None


def megabytes(size: int) -> str:
    """A byte count for people: '70.0 MB', or '12.5 KB' below 0.1 MB."""
    amount = size / 1024 / 1024
    return f"{amount:.1f} MB" if amount >= 0.1 else f"{size / 1024:.1f} KB"
