"""JSONL export and import of a library, for review and diffs in git.

One JSON object per line, in a fixed order (a header, the taxonomy by label,
insights by id; with `full`, every insight version and the training tasks as
well), each with a "kind" field. Equal libraries export to equal bytes, so a
change to one insight is a one-line diff, and export -> import -> export
reproduces the file exactly.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from nl2opt.files import NONBLOCKING_READ, file_problem, megabytes
from nl2opt.library.model import Insight, TaxonomyEntry, TrainingTask
from nl2opt.library.store import InsightVersion, LibraryError, LibraryStore, now_utc

FORMAT = "nl2opt.library/1"
# An import is read whole; a bigger file is more likely a wrong path than a library.
MAX_IMPORT_BYTES = 256 * 1024 * 1024
_LIMIT_HINT = (" for a library import; split it into smaller files, each starting with the "
               "header line")


def _line(kind: str, payload: dict) -> str:
    return json.dumps({"kind": kind, **payload}, ensure_ascii=False) + "\n"


def export_lines(store: LibraryStore, full: bool = False) -> list[str]:
    lines = [_line("header", {"format": FORMAT, "full": full})]
    lines += [_line("taxonomy", entry.model_dump(mode="json")) for entry in store.taxonomy()]
    lines += [_line("insight", insight.model_dump(mode="json")) for insight in store.list()]
    if full:
        lines += [_line("version", version.model_dump(mode="json"))
                  for version in store.all_versions()]
        lines += [_line("task", task.model_dump(mode="json")) for task in store.tasks()]
    return lines


def export_jsonl(store: LibraryStore, path: str | Path, full: bool = False) -> int:
    """Write the library to `path` atomically; returns the number of insights written."""
    path = Path(path)
    lines = export_lines(store, full)
    if path.is_dir() or not path.name:
        raise LibraryError(f"{path} is a folder; give the export a file name, e.g. "
                           "library.jsonl")
    try:  # a temporary file of our own beside it (never one that is already there)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise LibraryError(f"cannot write {path} ({error.strerror})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("".join(lines))
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise LibraryError(f"cannot write {path} ({error.strerror})") from None
    return sum(1 for line in lines if line.startswith('{"kind": "insight"'))


@dataclass
class ImportCounts:
    insights: int = 0
    kept_newer: int = 0  # insights already in the store at a higher version
    taxonomy: int = 0
    versions: int = 0
    tasks: int = 0


def import_jsonl(store: LibraryStore, path: str | Path) -> ImportCounts:
    """Read an exported file into `store` in one transaction (all or nothing).

    An insight already in the store is replaced only by a higher version, so
    importing an older export never loses an edit.
    """
    counts = ImportCounts()
    records = list(_records(Path(path)))
    with store.transaction():
        for number, kind, payload in records:
            try:
                _import_one(store, kind, payload, counts)
            except ValidationError as error:
                raise LibraryError(f"{path}:{number}: not a valid {kind} record: "
                                   f"{error.errors()[0]['msg']}") from error
            except OverflowError:  # a number SQLite cannot store (beyond 64 bits)
                raise LibraryError(f"{path}:{number}: a number in this {kind} record (e.g. "
                                   "its version) is too large") from None
    return counts


def _records(path: Path):
    first = True
    for number, text in enumerate(_read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        record = _json_line(path, number, text)
        kind = record.pop("kind", None) if isinstance(record, dict) else None
        if first and (kind != "header" or record.get("format") != FORMAT):
            raise LibraryError(f"{path} is not an nl2opt library export (its first line "
                               f"should be the {FORMAT} header)")
        first = False
        yield number, kind, record


def _read_text(path: Path) -> str:
    """The export's text; a FIFO, a device or a folder is refused before it is read (it
    would block or never end), and so is a file over MAX_IMPORT_BYTES."""
    try:
        descriptor = os.open(path, NONBLOCKING_READ)
    except FileNotFoundError:
        raise LibraryError(f"no such file: {path}") from None
    except OSError as error:
        raise LibraryError(f"{path} cannot be read ({error.strerror})") from None
    problem = file_problem(os.fstat(descriptor), MAX_IMPORT_BYTES, _LIMIT_HINT)
    if problem is not None:
        os.close(descriptor)
        raise LibraryError(f"{path} cannot be read: it {problem}")
    with os.fdopen(descriptor, "rb") as handle:
        content = handle.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:  # it grew after the check
        raise LibraryError(f"{path} cannot be read: it is over the "
                           f"{megabytes(MAX_IMPORT_BYTES)} limit{_LIMIT_HINT}")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LibraryError(f"{path} is not UTF-8 text (byte {error.start}); an export is "
                           "UTF-8 JSONL") from None


def _json_line(path: Path, number: int, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LibraryError(f"{path}:{number} is not JSON ({error.msg})") from error
    except RecursionError:
        raise LibraryError(f"{path}:{number} is nested too deeply to be a library "
                           "record") from None


def _import_one(store: LibraryStore, kind: str | None, payload: dict,
                counts: ImportCounts) -> None:
    if kind == "taxonomy":
        counts.taxonomy += store.add_taxonomy([TaxonomyEntry.model_validate(payload)])
    elif kind == "insight":
        insight = Insight.model_validate(payload)
        existing = store.get(insight.id)
        if existing is not None and existing.version > insight.version:
            counts.kept_newer += 1
            return
        store.replace(insight)
        if not any(v.version == insight.version for v in store.history(insight.id)):
            store.put_version(InsightVersion(id=insight.id, version=insight.version,
                                             changed_at=now_utc(), reason="imported",
                                             content=insight.content()))
        counts.insights += 1
    elif kind == "version":
        store.put_version(InsightVersion.model_validate(payload))
        counts.versions += 1
    elif kind == "task":
        store.put_task(TrainingTask.model_validate(payload))
        counts.tasks += 1
    elif kind != "header":
        raise LibraryError(f"unknown record kind {kind!r}")
