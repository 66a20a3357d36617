"""Data files a formulation may read: confined to one data folder.

A formulation's CSV sources name files by path, and formulations come from
LLMs and from people we do not know, so a path is only honoured when it is
relative, stays inside the data folder once `..` and symbolic links are
resolved, names a regular file (no FIFO that blocks, no device that never
ends, nothing under /proc, /sys or /dev) and is no larger than the cap. The
data folder is the formulation file's folder, the app conversation's upload
folder, or `--data-dir`; without one, no file is read at all.

Errors name the path as it was given (short, escaped) and never quote the
content of a file outside the folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from nl2opt.errors import DataError
from nl2opt.files import NONBLOCKING_READ, file_problem, megabytes
from nl2opt.text import snippet

MAX_DATA_MB_ENV = "NL2OPT_MAX_DATA_MB"
DEFAULT_MAX_DATA_MB = 64.0
_LIMIT_HINT = f" for data files (raise it with {MAX_DATA_MB_ENV})"
_PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))
_OPEN_FLAGS = NONBLOCKING_READ | getattr(os, "O_NOFOLLOW", 0)
NO_DATA_FOLDER_HINT = ("load the formulation from a file (its folder is the data folder), pass "
                       "--data-dir, or call formulation.with_data_dir(folder) in Python; "
                       "otherwise give the values inline (values or table)")


def max_data_bytes() -> int:
    """The size cap for one data file: env NL2OPT_MAX_DATA_MB, else 64 MB."""
    raw = os.environ.get(MAX_DATA_MB_ENV, "").strip()
    try:
        megabytes = float(raw) if raw else DEFAULT_MAX_DATA_MB
    except ValueError:
        raise DataError(f"{MAX_DATA_MB_ENV}={raw!r} is not a number of megabytes, e.g. "
                        "256") from None
    if not megabytes > 0:
        raise DataError(f"{MAX_DATA_MB_ENV}={raw!r} must be a positive number of megabytes")
    return int(min(megabytes, 1e9) * 1024 * 1024)


def resolve_data_path(root: str | Path | None, path_text: str) -> Path:
    """The real path of `path_text` inside the data folder `root`, or a DataError saying why
    it is refused. The file itself is checked when it is opened."""
    shown = snippet(path_text, 80)
    if root is None:
        raise DataError(f"data file {shown} cannot be read: no data folder is known for this "
                        f"formulation; {NO_DATA_FOLDER_HINT}")
    relative = _relative_parts(path_text, shown)
    folder = _data_folder(root)
    if os.path.normpath(os.path.join(*relative)).split(os.sep)[0] == "..":
        raise DataError(f"data file {shown} goes above the data folder; data paths stay inside "
                        "it, e.g. 'costs.csv' or 'tables/costs.csv'")
    resolved = folder.joinpath(*relative).resolve()
    if not resolved.is_relative_to(folder):
        raise DataError(f"data file {shown} is a link to a file outside the data folder; copy "
                        "the file into the data folder instead")
    if _is_pseudo(resolved):
        raise DataError(f"data file {shown} is a system file, not data")
    return resolved


def _relative_parts(path_text: str, shown: str) -> list[str]:
    if not path_text.strip() or "\x00" in path_text:
        raise DataError(f"data file {shown} is not a usable file name")
    path = PurePosixPath(path_text.replace("\\", "/"))
    if path.is_absolute() or path_text.startswith("~") or _has_drive(path_text):
        raise DataError(f"data file {shown} is an absolute path; data paths are relative to "
                        "the data folder, e.g. 'costs.csv'")
    return [part for part in path.parts if part != "."] or ["."]


def _has_drive(path_text: str) -> bool:
    return len(path_text) > 1 and path_text[1] == ":" and path_text[0].isalpha()


def _data_folder(root: str | Path) -> Path:
    folder = Path(root).resolve()
    if not folder.is_dir():
        raise DataError(f"the data folder {snippet(str(root), 120)} does not exist")
    if _is_pseudo(folder) or folder == Path(folder.anchor):
        raise DataError(f"{snippet(str(root), 120)} cannot be a data folder (a system folder); "
                        "put the data files in a folder of their own")
    return folder


def _is_pseudo(path: Path) -> bool:
    return any(path == top or path.is_relative_to(top) for top in _PSEUDO_FILESYSTEMS)


def open_data_file(root: str | Path | None, path_text: str) -> BinaryIO:
    """The data file opened for binary reading, after every check; close it when done.

    Opened without following a final link and without blocking, so a FIFO swapped in
    after the checks fails instead of hanging."""
    resolved = resolve_data_path(root, path_text)
    shown = snippet(path_text, 80)
    try:
        before = os.stat(resolved)
    except OSError as error:
        raise DataError(f"data file {shown} is not in the data folder ({error.strerror}); "
                        f"{_listing(resolved)}") from None
    _refuse_unless_regular(before, shown)
    try:
        descriptor = os.open(resolved, _OPEN_FLAGS)
    except OSError as error:
        raise DataError(f"data file {shown} cannot be opened ({error.strerror})") from None
    handle = os.fdopen(descriptor, "rb")
    try:
        after = os.fstat(descriptor)
        _refuse_unless_regular(after, shown)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise DataError(f"data file {shown} changed while it was being opened; try again")
    except BaseException:
        handle.close()
        raise
    return handle


def _refuse_unless_regular(info: os.stat_result, shown: str) -> None:
    problem = file_problem(info, max_data_bytes(), _LIMIT_HINT)
    if problem is not None:
        raise DataError(f"data file {shown} {problem}")


def _listing(resolved: Path) -> str:
    """Which CSV files the folder holding `resolved` has (names only), to help a repair."""
    folder = resolved.parent
    try:
        names = sorted(entry.name for entry in os.scandir(folder)
                       if entry.name.lower().endswith(".csv") and entry.is_file(
                           follow_symlinks=False))
    except OSError:
        return "check the path"
    if not names:
        return "that folder has no CSV files"
    shown = ", ".join(snippet(name, 60) for name in names[:10])
    return f"CSV files there: {shown}" + (", ..." if len(names) > 10 else "")


def read_data_bytes(root: str | Path | None, path_text: str) -> bytes:
    """The whole data file, at most the size cap (checked again while reading)."""
    limit = max_data_bytes()
    with open_data_file(root, path_text) as handle:
        content = handle.read(limit + 1)
    if len(content) > limit:
        raise DataError(f"data file {snippet(path_text, 80)} is over the {megabytes(limit)} "
                        f"limit{_LIMIT_HINT}")
    return content


def read_data_text(root: str | Path | None, path_text: str) -> str:
    """The data file as UTF-8 text (a byte-order mark is dropped)."""
    content = read_data_bytes(root, path_text)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise DataError(f"data file {snippet(path_text, 80)} is not UTF-8 text (line {line}, "
                        f"byte 0x{content[error.start]:02x}); save it as 'CSV UTF-8' and try "
                        "again") from None
