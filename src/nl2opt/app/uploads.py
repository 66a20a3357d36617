"""Uploaded data files: saved as CSV in versioned data folders, previewed for the LLM.

The LLM sees only each file's header, row count and a few sample rows, never
the whole file; the formulation then reads the data through CSV sources
(paths relative to the data folder), so large tables never pass through it.

Every upload makes a new version of the conversation's data
(``<conversation folder>/v1``, ``v2``, ...): the previous version's files
(hard links, so nothing is copied) plus the new ones. A version never changes
once written, and each answer records the version it was made with, so
re-uploading ``data.csv`` never changes what an earlier answer solves.
Conversations from before versioning keep their files directly in the
conversation folder, which then serves as their only version.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

from nl2opt.errors import DataError, Nl2OptError
from nl2opt.formulation.data import csv_rows
from nl2opt.formulation.datafiles import max_data_bytes, open_data_file

UPLOAD_TYPES = ["csv", "xlsx", "xls"]
SAMPLE_ROWS = 5
MAX_PREVIEW_CHARS = 400  # per sample line: wide files must not flood the prompt
_VERSION = re.compile(r"v([1-9][0-9]*)")


class UploadError(Nl2OptError):
    """An uploaded file cannot be used as data."""


def safe_name(name: str) -> str:
    """A plain file name (no folders, no odd characters), keeping the extension."""
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "data"
    return cleaned


def save_upload(name: str, content: bytes, folder: Path) -> list[Path]:
    """Save an uploaded CSV or Excel file as CSV file(s) in a new data version under
    `folder` (the conversation's folder); the paths written."""
    return new_version(folder, converted_upload(name, content))


def converted_upload(name: str, content: bytes) -> dict[str, bytes]:
    """{CSV file name: content} for an uploaded CSV or Excel file, checked."""
    clean = safe_name(name)
    suffix = Path(clean).suffix.lower()
    if len(content) > max_data_bytes():
        raise UploadError(f"{name} is {len(content) / 1024 / 1024:.1f} MB, over the "
                          f"{max_data_bytes() / 1024 / 1024:.1f} MB limit for data files "
                          "(raise it with NL2OPT_MAX_DATA_MB)")
    if suffix == ".csv":
        _check_csv(clean, content)
        return {clean: content}
    if suffix in (".xlsx", ".xls"):
        return excel_to_csv(clean, content)
    raise UploadError(f"{name}: only CSV and Excel files (.csv, .xlsx, .xls) can be used as "
                      "data; save the table as CSV and upload it again")


def _check_csv(name: str, content: bytes) -> None:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UploadError(f"{name} is not UTF-8 text (byte {error.start}); save it as "
                          "'CSV UTF-8' and upload it again") from None
    try:
        rows = csv_rows(text, name)
        header = next(rows, (0, []))[1]
        for _ in rows:  # the whole file parses (no field over the CSV reader's limit)
            pass
    except DataError as error:
        raise UploadError(f"{error}; fix the file and upload it again") from None
    if not header or not any(cell.strip() for cell in header):
        raise UploadError(f"{name} has no header row; the first line must name the columns")


def version_folders(folder: Path | None) -> list[Path]:
    """The data versions of a conversation folder, oldest first."""
    if folder is None or not folder.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in folder.iterdir()
             if (match := _VERSION.fullmatch(path.name)) and path.is_dir()
             and not path.is_symlink()]
    return [path for _, path in sorted(found)]


def current_data_dir(folder: Path) -> Path:
    """The newest data version of a conversation (the folder itself before any upload, or
    for a conversation saved before versioning)."""
    versions = version_folders(folder)
    return versions[-1] if versions else folder


def version_name(data_dir: Path) -> str:
    """The version a data folder is ('v3'), or '' for an unversioned conversation folder."""
    return data_dir.name if _VERSION.fullmatch(data_dir.name) else ""


def data_dir_of(folder: Path, version: str) -> Path:
    """The data folder an answer made with `version` reads (the folder itself for '')."""
    return folder / version if _VERSION.fullmatch(version) else folder


def new_version(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write `files` as a new data version holding the newest version's other files too;
    the new files' paths. Built in a hidden folder and renamed into place, so a version is
    complete or absent."""
    folder.mkdir(parents=True, exist_ok=True)
    previous = current_data_dir(folder)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=folder))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        for path in data_files(previous):
            if not (staging / path.name).exists():
                _link_or_copy(path, staging / path.name)
        target = _rename_to_next_version(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / name for name in files]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # versions never change, so sharing the file is safe
    except OSError:
        shutil.copyfile(source, target)


def _rename_to_next_version(staging: Path, folder: Path) -> Path:
    versions = version_folders(folder)
    number = int(versions[-1].name[1:]) + 1 if versions else 1
    for attempt in range(100):  # another upload may take a number meanwhile
        target = folder / f"v{number + attempt}"
        if target.exists():
            continue
        try:
            staging.rename(target)
            return target
        except OSError:
            continue
    raise UploadError(f"could not create a new data version in {folder}")


def excel_available() -> bool:
    return importlib.util.find_spec("openpyxl") is not None


def excel_to_csv(name: str, content: bytes) -> dict[str, bytes]:
    """One CSV per non-empty sheet (``book.csv``, or ``book_<sheet>.csv`` for several)."""
    if not excel_available():
        raise UploadError(f"{name}: reading Excel files needs the openpyxl package, which is "
                          "not installed (pip install openpyxl); or save the sheet as CSV and "
                          "upload that")
    import pandas as pd

    try:
        sheets = pd.read_excel(io.BytesIO(content), sheet_name=None)
    except Exception as error:  # pandas/openpyxl raise many types for broken files
        raise UploadError(f"{name} could not be read as an Excel workbook ({error}); save "
                          "it as CSV and upload that") from None
    filled = {sheet: frame for sheet, frame in sheets.items() if not frame.empty}
    if not filled:
        raise UploadError(f"{name} has no data in any sheet")
    stem = Path(name).stem
    converted = {}
    for sheet, frame in filled.items():
        label = stem if len(filled) == 1 else f"{stem}_{safe_name(str(sheet))}"
        converted[f"{label}.csv"] = frame.to_csv(index=False).encode("utf-8")
    return converted


def data_files(folder: Path | None) -> list[Path]:
    """The CSV files (regular files, not links) in a data folder, by name."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(path for path in folder.glob("*.csv")
                  if path.is_file() and not path.is_symlink())


def describe_csv(path: Path, sample_rows: int = SAMPLE_ROWS) -> str:
    """'name.csv: N rows; columns: a, b' and the first rows, as the LLM sees them."""
    header, sample, count = "", [], 0
    with _open_text(path) as handle:
        for line in handle:  # streamed: a large file is counted, never held in memory
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if not header:
                header = line
                continue
            count += 1
            if len(sample) < sample_rows:
                sample.append(line)
    columns = next(csv.reader([header]), []) if header else []
    shown = "\n".join("  " + line[:MAX_PREVIEW_CHARS] for line in [header, *sample])
    more = f"\n  ... ({count - len(sample)} more rows not shown)" if count > len(sample) else ""
    return (f"- {path.name}: {count} rows; columns: {', '.join(columns)}. "
            f"First rows:\n{shown}{more}")


def _open_text(path: Path) -> io.TextIOWrapper:
    """A data file opened through the data-folder checks (its folder is the root)."""
    return io.TextIOWrapper(open_data_file(path.parent, path.name), encoding="utf-8-sig",
                            errors="replace", newline="")


def data_preview(paths: list[Path]) -> str:
    """The data section appended to the problem text ('' without files)."""
    if not paths:
        return ""
    first = paths[0]
    with _open_text(first) as handle:
        columns = next(csv.reader(handle), []) or ["column"]
    example = ('{"csv": {"path": "%s", "index_columns": ["%s"], "value_column": "%s"}}'
               % (first.name, columns[0], columns[-1]))
    described = "\n".join(describe_csv(path) for path in paths)
    return ("Data files (only their first rows are shown here; read them in the formulation "
            f"with csv sources, paths as given, e.g. {example}):\n{described}")


def with_data(text: str, paths: list[Path]) -> str:
    """The user's text followed by the data section, if there are data files."""
    preview = data_preview(paths)
    return f"{text.strip()}\n\n{preview}" if preview else text.strip()
