"""Load benchmark items from the staged data, a fetched upstream file, or any JSONL/CSV file.

Where data is looked for (first match wins):

1. the `data_dir` argument, if given (nothing else is searched);
2. else the environment variable `NL2OPT_DATA_DIR` (nothing else is searched);
3. else the user cache `~/.cache/nl2opt/datasets` (`$XDG_CACHE_HOME` respected;
   `%LOCALAPPDATA%` on Windows), where `fetch_dataset` puts downloads;
4. else `../shared/datasets` relative to the current directory, the layout of
   the workplace this project grew up in.

Inside a data dir a registered dataset is `<folder>/canonical.jsonl` or, when
that is absent, the fetched upstream file(s) `<folder>/<upstream filename>`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nl2opt.datasets.registry import CANONICAL_FILE, DatasetEntry, dataset_names, get_entry
from nl2opt.datasets.types import Dataset, DatasetItem
from nl2opt.errors import DataError

ENV_DATA_DIR = "NL2OPT_DATA_DIR"

QUESTION_FIELDS = ("question", "en_question", "description", "problem")
ANSWER_FIELDS = ("answer", "en_answer", "obj", "ground_truth", "objective")
ID_FIELDS = ("uid", "id", "index", "task_id", "native_id")

_STATUS_WORDS = {  # keys: lower case, runs of space/underscore/hyphen -> one space
    "optimal": "optimal",
    "infeasible": "infeasible",
    "unbounded": "unbounded",
    "infeasible or unbounded": "infeasible_or_unbounded",
    # ORLM's NL4OPT marker: the text does not say which of the two it is.
    "no best solution": "infeasible_or_unbounded",
}


class DatasetNotFoundError(DataError):
    """A dataset's file is in none of the searched places; `looked_in` lists them."""

    def __init__(self, message: str, looked_in: list[Path]) -> None:
        self.looked_in = looked_in
        super().__init__(message)


def user_cache_dir() -> Path:
    """Where fetched datasets are kept for this user (no platformdirs dependency)."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "nl2opt" / "datasets"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nl2opt" / "datasets"


def candidate_data_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The data dirs searched, in order (see the module docstring)."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    if os.environ.get(ENV_DATA_DIR):
        return [Path(os.environ[ENV_DATA_DIR]).expanduser()]
    return [user_cache_dir(), Path.cwd().parent / "shared" / "datasets"]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- answers

def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def parse_answer(raw: Any) -> tuple[float | None, str]:
    """(objective, answer_status) from an answer as benchmarks store it.

    Handles numbers, numeric strings, "[x]" strings and one-element lists
    (OptiMind), `{"status": ..., "obj": ...}` dicts (ORThought) and status
    words. Anything else (e.g. a dict of named result values) is unlabeled.
    """
    if raw is None or isinstance(raw, bool):
        return None, "unlabeled"
    if isinstance(raw, (int, float)):
        value = _finite(float(raw))
        return (value, "optimal") if value is not None else (None, "unlabeled")
    if isinstance(raw, list):
        return parse_answer(raw[0]) if len(raw) == 1 else (None, "unlabeled")
    if isinstance(raw, dict):
        return _parse_answer_dict(raw)
    if isinstance(raw, str):
        return _parse_answer_text(raw)
    return None, "unlabeled"


def _status_word(text: str) -> str | None:
    return _STATUS_WORDS.get(re.sub(r"[\s_\-]+", " ", text.strip().lower()))


def _parse_answer_text(text: str) -> tuple[float | None, str]:
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        parts = [p for p in stripped[1:-1].split(",") if p.strip()]
        return _parse_answer_text(parts[0]) if len(parts) == 1 else (None, "unlabeled")
    try:
        return parse_answer(float(stripped.replace(",", "")))
    except ValueError:
        pass
    status = _status_word(stripped)
    # A bare "optimal" without a value is no label.
    return (None, status) if status and status != "optimal" else (None, "unlabeled")


def _parse_answer_dict(raw: dict) -> tuple[float | None, str]:
    objective = next((raw[k] for k in ("obj", "objective", "value") if k in raw), None)
    value, _ = parse_answer(objective)
    status = _status_word(str(raw["status"])) if raw.get("status") is not None else "optimal"
    if status == "optimal":
        return (value, "optimal") if value is not None else (None, "unlabeled")
    return None, status or "unlabeled"


# ---------------------------------------------------------------- reading rows

def iter_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, record) for a .jsonl, .json (array) or .csv file.

    The location reads "FILE, line N" (1-based; "element N" for a JSON array,
    "row N" for CSV data rows) so errors can point at the record.

    Raises DataError naming the file and line for anything that is not a JSON
    object per line.
    """
    if path.suffix.lower() == ".csv":
        yield from _iter_csv(path)
        return
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        yield from _iter_json_array(path, text)
        return
    # split("\n"), not splitlines(): JSON strings may hold raw U+2028 and friends.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}, line {number}: not valid JSON ({error.msg} at column "
                            f"{error.colno}). Each line must be one JSON object.") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}, line {number}: expected a JSON object, got "
                            f"{type(record).__name__}.")
        yield f"{path}, line {number}", record


def _iter_json_array(path: Path, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}).") from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path}, element {number}: expected a JSON object.")
        yield f"{path}, element {number}", record


def _iter_csv(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(1 << 30)  # questions with tables exceed the 128 KiB default
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            yield f"{path}, row {number}", row


def _first(record: dict[str, Any], fields: Iterable[str]) -> tuple[str | None, Any]:
    for field in fields:
        if field in record and record[field] not in (None, ""):
            return field, record[field]
    return None, None


def item_from_record(record: dict[str, Any], *, dataset: str, row_index: int,
                     uid_prefix: str, id_field: str | None = None,
                     subset: str | None = None, where: str = "") -> DatasetItem | None:
    """A DatasetItem from a canonical row or a raw benchmark row (None for empty rows).

    Canonical rows (with `uid` and `answer_status`) load as they are; raw rows
    are mapped: question from question/en_question/description/problem, answer
    from answer/en_answer/obj/ground_truth/objective, id from `id_field` or
    uid/id/index/task_id/native_id, else the 0-based row number.
    """
    if "uid" in record and "answer_status" in record:
        try:
            return DatasetItem.model_validate({"dataset": dataset, **record})
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in error.errors()[:5])
            raise DataError(f"{where}: not a valid dataset item ({problems}).") from None
    _, question = _first(record, QUESTION_FIELDS)
    _, answer_raw = _first(record, ANSWER_FIELDS)
    if question is None:
        if all(str(v).strip() in ("", "[]", "None") for v in record.values()):
            return None  # a blank row: OptiMind's OptMATH CSV has two
        raise DataError(f"{where}: no question text; expected one of the fields "
                        f"{', '.join(QUESTION_FIELDS)} (found {', '.join(sorted(record))}).")
    answer, status = parse_answer(answer_raw)
    native = record.get(id_field) if id_field else _first(record, ID_FIELDS)[1]
    native = row_index if native in (None, "") else native
    return DatasetItem(uid=f"{uid_prefix}/{native}", dataset=dataset, subset=subset,
                       question=str(question), answer=answer, answer_raw=answer_raw,
                       answer_status=status)


def read_items(path: Path, *, dataset: str, uid_prefix: str, id_field: str | None = None,
               subset: str | None = None) -> list[DatasetItem]:
    """Every item of one file; duplicate uids are an error (ids must select one item)."""
    items: list[DatasetItem] = []
    seen: set[str] = set()
    for row_index, (where, record) in enumerate(iter_rows(path)):
        item = item_from_record(record, dataset=dataset, row_index=row_index,
                                uid_prefix=uid_prefix, id_field=id_field, subset=subset,
                                where=where)
        if item is None:
            continue
        if item.uid in seen:
            raise DataError(f"{where}: duplicate uid {item.uid!r}; give each record a "
                            "unique `uid` or `id` field.")
        seen.add(item.uid)
        items.append(item)
    return items


# ---------------------------------------------------------------- datasets

def _locate(entry: DatasetEntry, dirs: list[Path]) -> tuple[str, list[Path]] | None:
    """('canonical' | 'upstream', files) for the first dir that holds the dataset."""
    for base in dirs:
        canonical = base / entry.folder / CANONICAL_FILE
        if canonical.is_file():
            return "canonical", [canonical]
        fetched = [base / entry.folder / u.filename for u in entry.upstream]
        if fetched and all(p.is_file() for p in fetched):
            return "upstream", fetched
    return None


def how_to_get(entry: DatasetEntry) -> str:
    """One sentence telling a user how to obtain a dataset's data."""
    if entry.fetchable:
        urls = ", ".join(u.url for u in entry.upstream)
        return f"run `nl2opt data fetch {entry.name}` (downloads {urls})"
    return entry.manual_hint or "download by hand"


def _not_found(entry: DatasetEntry, dirs: list[Path]) -> DatasetNotFoundError:
    looked = []
    for base in dirs:
        looked.append(str(base / entry.folder / CANONICAL_FILE))
        looked.extend(str(base / entry.folder / u.filename) for u in entry.upstream)
    return DatasetNotFoundError(
        f"dataset {entry.name!r} not found; looked for: {'; '.join(looked)}. To get it: "
        f"{how_to_get(entry)}; or point --data-dir / ${ENV_DATA_DIR} at a folder that "
        f"contains {entry.folder}/{CANONICAL_FILE}.", dirs)


def _combined_hash(files: list[Path]) -> str:
    if len(files) == 1:
        return sha256_file(files[0])
    # Several source files: hash of their "name sha256" lines, order as listed.
    lines = "".join(f"{p.name} {sha256_file(p)}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def _load_registered(entry: DatasetEntry, data_dir: str | Path | None) -> Dataset:
    dirs = candidate_data_dirs(data_dir)
    found = _locate(entry, dirs)
    if found is None:
        raise _not_found(entry, dirs)
    kind, files = found
    if kind == "canonical":
        items = read_items(files[0], dataset=entry.folder, uid_prefix=entry.folder)
    else:
        items = [item for upstream, path in zip(entry.upstream, files)
                 for item in read_items(path, dataset=entry.folder,
                                        uid_prefix=upstream.uid_prefix,
                                        id_field=upstream.id_field, subset=upstream.subset)]
    if entry.subset is not None:
        items = [item for item in items if item.subset == entry.subset]
    path = str(files[0]) if len(files) == 1 else " + ".join(map(str, files))
    _require_items(items, path)
    return Dataset(name=entry.name, path=path, version=entry.version,
                   file_hash=_combined_hash(files), items=items)


def _load_file(path: Path) -> Dataset:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{str(path)!r} is neither a registered dataset ({', '.join(dataset_names())}) "
            "nor an existing file. Pass a dataset name or a JSONL/CSV file with question "
            "and answer fields.", [path])
    items = read_items(path, dataset=path.stem, uid_prefix=path.stem)
    _require_items(items, str(path))
    return Dataset(name=path.stem, path=str(path), version=f"file:{path.resolve()}",
                   file_hash=sha256_file(path), items=items)


def _require_items(items: list[DatasetItem], where: str) -> None:
    if not items:
        raise DataError(f"{where} holds no dataset items (the file is empty or has only blank "
                        "rows). Pass a JSONL, JSON or CSV file with one problem per line or "
                        "row, each with a question and an answer field.")


def _select(items: list[DatasetItem], ids: Iterable[str] | None,
            limit: int | None, name: str) -> list[DatasetItem]:
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        by_uid = {item.uid: item for item in items}
        missing = [uid for uid in wanted if uid not in by_uid]
        if missing:
            example = items[0].uid if items else "none"
            raise DataError(f"dataset {name!r} has no item(s) with uid {', '.join(missing[:10])}"
                            f"{' ...' if len(missing) > 10 else ''}; uids look like {example!r}.")
        keep = set(wanted)
        items = [item for item in items if item.uid in keep]
    if limit is not None:
        if limit < 0:
            raise DataError(f"limit must be >= 0, got {limit}.")
        items = items[:limit]
    return items


def load_dataset(name_or_path: str | Path | DatasetEntry, data_dir: str | Path | None = None,
                 limit: int | None = None, ids: Iterable[str] | None = None) -> Dataset:
    """Load a registered benchmark by name, or any JSONL/JSON/CSV file by path.

    `ids` keeps only the items with these uids (file order); `limit` keeps the
    first N after that. `Dataset.version` names the source (repo@commit:path,
    or file:PATH); `Dataset.file_hash` is the sha256 of the file read.
    Raises DatasetNotFoundError (a DataError) saying where it looked and how to
    get the data, and DataError naming file and line for malformed records, or
    the file when it holds no items at all.
    """
    if isinstance(name_or_path, DatasetEntry):
        entry: DatasetEntry | None = name_or_path
    else:
        entry = get_entry(str(name_or_path)) if isinstance(name_or_path, str) else None
    dataset = (_load_registered(entry, data_dir) if entry is not None
               else _load_file(Path(name_or_path).expanduser()))
    selected = _select(dataset.items, ids, limit, dataset.name)
    return dataset.model_copy(update={"items": selected})


# ---------------------------------------------------------------- fetching

def fetch_dataset(name: str | DatasetEntry, data_dir: str | Path | None = None,
                  *, timeout: float = 60.0) -> list[Path]:
    """Download a dataset's upstream file(s) into `<data_dir>/<folder>/` and check sha256.

    `data_dir` defaults to $NL2OPT_DATA_DIR, else the user cache dir. Files
    already present with the right checksum are not downloaded again. A
    checksum mismatch deletes the download and raises DataError.
    """
    entry = name if isinstance(name, DatasetEntry) else get_entry(name)
    if entry is None:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}.")
    if not entry.fetchable:
        raise DataError(f"dataset {entry.name!r} has no single public file to fetch: "
                        f"{entry.manual_hint or 'download by hand'}.")
    base = Path(data_dir).expanduser() if data_dir is not None else (
        Path(os.environ[ENV_DATA_DIR]).expanduser() if os.environ.get(ENV_DATA_DIR)
        else user_cache_dir())
    target_dir = base / entry.folder
    target_dir.mkdir(parents=True, exist_ok=True)
    return [_fetch_one(u.url, target_dir / u.filename, u.sha256 or "", timeout)
            for u in entry.upstream]


def _fetch_one(url: str, target: Path, sha256: str, timeout: float) -> Path:
    if target.is_file() and sha256_file(target) == sha256:
        return target
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                open(partial, "wb") as out:
            out.writelines(iter(lambda: response.read(1 << 20), b""))
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {error}. Download it by hand and save "
                        f"it as {target}.") from None
    actual = sha256_file(partial)
    if actual != sha256:
        partial.unlink(missing_ok=True)
        raise DataError(f"{url}: sha256 {actual} does not match the expected {sha256}; the "
                        "upstream file changed or the download is corrupt. Nothing was saved.")
    partial.replace(target)
    return target
