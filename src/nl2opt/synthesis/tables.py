"""Model-data separation: move a formulation's large parameter tables into CSV files.

Synthetic problems can then be industrial-sized without pasting thousands of
numbers into the text: the statement names the files and their columns, and
the formulation reads them through `csv` sources. Parameters over the same
index sets with the same listed entries share one file (one column each), the
way people keep data: `item.csv` with columns item, weight, value.

`externalize` is pure: it returns the new formulation and the files' text;
the caller decides where they are written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from nl2opt.formulation.model import Formulation

DEFAULT_THRESHOLD = 40  # a table with at least this many entries goes to a file


@dataclass(frozen=True)
class DataTable:
    """One CSV file: its path (relative to the dataset folder) and contents."""

    path: str
    columns: tuple[str, ...]
    text: str

    @property
    def rows(self) -> int:
        return max(0, self.text.count("\n") - 1)


def flatten(values, depth: int, prefix: tuple = ()) -> list[tuple[tuple, float]]:
    """Nested {"a": {"b": 3}} -> [(("a", "b"), 3)]."""
    if depth == 0:
        return [(prefix, values)]
    rows = []
    for key, inner in values.items():
        rows.extend(flatten(inner, depth - 1, prefix + (key,)))
    return rows


def externalize(formulation: Formulation, folder: str, labels: dict[str, str],
                threshold: int = DEFAULT_THRESHOLD) -> tuple[Formulation, list[DataTable]]:
    """Move parameter tables with >= `threshold` entries into CSV files under `folder`.

    `labels` names one element of each set ("item"), used for the index columns.
    Parameters given as `values` are moved; scalars and small tables stay inline.
    """
    data = formulation.to_dict()
    groups: dict[tuple, list[dict]] = {}
    for param in data.get("parameters", []):
        if param.get("index") and "values" in param:
            rows = flatten(param["values"], len(param["index"]))
            if len(rows) >= threshold:
                key = (tuple(param["index"]), tuple(k for k, _ in rows))
                groups.setdefault(key, []).append(param)
    tables: list[DataTable] = []
    for (index, keys), params in groups.items():
        words = list(dict.fromkeys(labels.get(s, s.lower()) for s in index))
        name = "_".join(words) + ("_pairs" if len(words) < len(index) else "")
        if any(t.path == f"{folder}/{name}.csv" for t in tables):
            name = f"{name}_{params[0]['name']}"
        table = _write_group(f"{folder}/{name}.csv", index, keys, params, labels)
        tables.append(table)
        columns = table.columns[:len(index)]
        for param in params:
            del param["values"]
            param["csv"] = {"path": table.path, "index_columns": list(columns),
                            "value_column": param["name"]}
    return Formulation.model_validate(data), tables


def _write_group(path: str, index: tuple[str, ...], keys: tuple, params: list[dict],
                 labels: dict[str, str]) -> DataTable:
    columns = _index_columns(index, labels)
    lookups = [dict(flatten(p["values"], len(index))) for p in params]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, *(p["name"] for p in params)])
    for key in keys:
        writer.writerow([*key, *(lookup[key] for lookup in lookups)])
    header = (*columns, *(p["name"] for p in params))
    return DataTable(path, header, buffer.getvalue())


def _index_columns(index: tuple[str, ...], labels: dict[str, str]) -> list[str]:
    """Column names for the index sets; a set used twice gets from_/to_ style names."""
    names = [labels.get(s, s.lower()) for s in index]
    if len(set(names)) == len(names):
        return names
    prefixes = ["from", "to"] if len(names) == 2 else [f"pos{k + 1}" for k in range(len(names))]
    return [f"{prefix}_{name}" if names.count(name) > 1 else name
            for prefix, name in zip(prefixes, names)]
