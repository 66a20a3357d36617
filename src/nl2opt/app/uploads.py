"""Uploaded data files: saved as CSV in the conversation's data folder, previewed for the LLM.

The LLM sees only each file's header, row count and a few sample rows, never
the whole file; the formulation then reads the data through CSV sources
(paths relative to the data folder), so large tables never pass through it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from pathlib import Path

from nl2opt.errors import Nl2OptError

UPLOAD_TYPES = ["csv", "xlsx", "xls"]
SAMPLE_ROWS = 5
MAX_PREVIEW_CHARS = 400  # per sample line: wide files must not flood the prompt


class UploadError(Nl2OptError):
    """An uploaded file cannot be used as data."""


def safe_name(name: str) -> str:
    """A plain file name (no folders, no odd characters), keeping the extension."""
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "data"
    return cleaned


def save_upload(name: str, content: bytes, folder: Path) -> list[Path]:
    """Save an uploaded CSV or Excel file as CSV file(s) in `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    clean = safe_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix == ".csv":
        _check_csv(clean, content)
        target = folder / clean
        target.write_bytes(content)
        return [target]
    if suffix in (".xlsx", ".xls"):
        return excel_to_csv(clean, content, folder)
    raise UploadError(f"{name}: only CSV and Excel files (.csv, .xlsx, .xls) can be used as "
                      "data; save the table as CSV and upload it again")


def _check_csv(name: str, content: bytes) -> None:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UploadError(f"{name} is not UTF-8 text (byte {error.start}); save it as "
                          "'CSV UTF-8' and upload it again") from None
    header = next(csv.reader(io.StringIO(text)), None)
    if not header or not any(cell.strip() for cell in header):
        raise UploadError(f"{name} has no header row; the first line must name the columns")


def excel_available() -> bool:
    return importlib.util.find_spec("openpyxl") is not None


def excel_to_csv(name: str, content: bytes, folder: Path) -> list[Path]:
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
    written = []
    for sheet, frame in filled.items():
        label = stem if len(filled) == 1 else f"{stem}_{safe_name(str(sheet))}"
        target = folder / f"{label}.csv"
        frame.to_csv(target, index=False)
        written.append(target)
    return written


def data_files(folder: Path | None) -> list[Path]:
    """The CSV files in a conversation's data folder, by name."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(path for path in folder.glob("*.csv") if path.is_file())


def describe_csv(path: Path, sample_rows: int = SAMPLE_ROWS) -> str:
    """'name.csv: N rows; columns: a, b' and the first rows, as the LLM sees them."""
    header, sample, count = "", [], 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
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


def data_preview(paths: list[Path]) -> str:
    """The data section appended to the problem text ('' without files)."""
    if not paths:
        return ""
    first = paths[0]
    with first.open(encoding="utf-8-sig", newline="") as handle:
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
