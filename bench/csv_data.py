"""How fast are CSV data sources read, through the data-folder checks?

    python bench/csv_data.py [--rows 1000000]

Writes a two-column CSV (product, profit) of --rows rows in a temporary data folder and
a formulation whose set P and parameter profit read it. Measured, in this process:

  read:    `read_csv` alone (the confined open, UTF-8 decoding, CSV parsing) for the
           parameter's columns, i.e. the part the data-folder checks wrap;
  resolve: `resolve_data` of the whole formulation (reads the file twice, once for the
           set and once for the parameter, and fills the parameter array).

Prints seconds, rows per second and the peak RSS (ru_maxrss) after each stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from nl2opt.formulation.data import read_csv, resolve_data
from nl2opt.formulation.model import load_formulation


def write_case(folder: Path, rows: int) -> Path:
    lines = "".join(f"p{k},{k % 97}.5\n" for k in range(rows))
    (folder / "big.csv").write_text("product,profit\n" + lines)
    source = {"path": "big.csv", "index_columns": ["product"], "value_column": "profit"}
    model = {"sets": [{"name": "P", "csv": {"path": "big.csv", "value_column": "product"}}],
             "parameters": [{"name": "profit", "index": ["P"], "csv": source}],
             "variables": [{"name": "y", "index": ["P"], "upper": 1}],
             "objective": {"sense": "maximize",
                           "expression": "sum(profit[p] * y[p] for p in P)"}}
    path = folder / "model.json"
    path.write_text(json.dumps(model))
    return path


def report(stage: str, seconds: float, rows: int) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{stage:8s} {seconds:7.2f} s  {rows / seconds:12,.0f} rows/s  peak RSS {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        formulation = load_formulation(write_case(Path(folder), rows))
        started = time.perf_counter()
        count = sum(1 for _ in read_csv(formulation.parameters[0].csv, formulation.data_dir,
                                        "parameter 'profit'"))
        report("read", time.perf_counter() - started, count)
        started = time.perf_counter()
        resolve_data(formulation)
        report("resolve", time.perf_counter() - started, rows)


if __name__ == "__main__":
    main()
