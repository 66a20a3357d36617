"""Where a synthesis run keeps its files, and writing CSV tables safely inside it.

    OUT/instances.jsonl   generated, solved and scored instances (LLM-free)
    OUT/problems.jsonl    accepted text/formulation pairs (a benchmark for nl2opt eval)
    OUT/rejected.jsonl    rejected pairs with the reason
    OUT/data/<uid>/*.csv  large tables, referenced by relative path from the records
    OUT/tuning.json       the sizes the feedback loop chose per family
    OUT/batch/            pending and answered requests of a batch: LLM
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nl2opt.synthesis.family import SynthesisError
from nl2opt.synthesis.tables import DataTable


def write_tables(out_dir: str | Path, tables: tuple[DataTable, ...] | list[DataTable]) -> None:
    """Write CSV tables under `out_dir` (atomically, each path kept inside it)."""
    root = Path(out_dir).resolve()
    for table in tables:
        target = (root / table.path).resolve()
        if root not in target.parents:
            raise SynthesisError(f"table path {table.path!r} leaves the output folder {root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, table.text)


def write_json(path: Path, data) -> None:
    """Write JSON atomically (a kill never leaves half a file)."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def read_tables(out_dir: str | Path, paths: list[str]) -> list[DataTable]:
    """The CSV tables a record references, read back (for prompts that show the data)."""
    root = Path(out_dir).resolve()
    tables = []
    for path in paths:
        text = (root / path).read_text(encoding="utf-8")
        header = tuple(text.split("\n", 1)[0].split(","))
        tables.append(DataTable(path, header, text))
    return tables
