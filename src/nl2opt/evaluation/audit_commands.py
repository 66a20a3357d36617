"""CLI commands for label audits and benchmark data: `nl2opt audit`, `nl2opt data ...`.

`register(app)` adds them to the main typer app (wired in nl2opt.cli).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nl2opt.errors import Nl2OptError
from nl2opt.text import safe_terminal

_out = Console(soft_wrap=True, emoji=False)
_err = Console(stderr=True, soft_wrap=True, emoji=False)

KIND_LABELS = {
    "disputed_label": "disputed by another version",
    "samples_disagree_with_label": "samples agree, label differs",
    "consensus_for_unlabeled": "samples agree, no label",
}


def _fail(message: str, code: int = 2) -> None:
    _err.print("[bold red]error:[/] ", end="")
    _err.print(safe_terminal(message), highlight=False)
    raise typer.Exit(code)


def audit_command(
        dataset: str = typer.Argument(..., help="A registered dataset name (see `nl2opt data "
                                      "list`) or a JSONL/CSV file with question and answer."),
        data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder holding "
                                                "<dataset>/canonical.jsonl. Default: "
                                                "$NL2OPT_DATA_DIR, the user cache, "
                                                "../shared/datasets."),
        run: Path | None = typer.Option(None, "--run", help="A run directory with "
                                           "results.jsonl: also flag items whose independent "
                                           "samples agree with each other but not with the "
                                           "label."),
        as_json: bool = typer.Option(False, "--json", help="Print findings as JSON."),
        limit: int | None = typer.Option(None, "--limit", help="Audit only the first N "
                                            "items.")) -> None:
    """List benchmark items whose label is probably wrong (evidence only; scores unchanged)."""
    from nl2opt.datasets.loader import load_dataset
    from nl2opt.evaluation.audit import audit, count_by_kind, read_run_records

    try:
        data = load_dataset(dataset, data_dir=data_dir, limit=limit)
        records = read_run_records(run) if run is not None else None
    except Nl2OptError as error:
        _fail(str(error))
    findings = audit(data, records.by_uid if records else None)
    counts = count_by_kind(findings)
    with_records = (sum(1 for item in data.items if item.uid in records.by_uid)
                    if records else 0)
    if as_json:
        _out.print_json(json.dumps({
            "dataset": data.name, "version": data.version, "file_hash": data.file_hash,
            "items": len(data), "items_with_run_records": with_records,
            "skipped_run_lines": records.skipped_lines if records else [],
            "counts": counts, "findings": [f.to_dict() for f in findings]}))
        return
    _print_findings(findings)
    _print_summary(data, counts, with_records, records)


def _print_findings(findings) -> None:
    if not findings:
        return
    table = Table(show_lines=False)
    table.add_column("uid", overflow="fold")
    table.add_column("finding")
    table.add_column("label", justify="right")
    table.add_column("evidence", overflow="fold")
    for finding in findings:
        label = (f"{finding.label:g}" if finding.label is not None
                 else finding.label_status)
        table.add_row(safe_terminal(finding.uid), KIND_LABELS.get(finding.kind, finding.kind),
                      label, safe_terminal(finding.message))
    _out.print(table)


def _print_summary(data, counts: dict[str, int], with_records: int, records) -> None:
    kinds = KIND_LABELS if records is not None else {"disputed_label": KIND_LABELS[
        "disputed_label"]}
    parts = ", ".join(f"{counts.get(kind, 0)} {text}" for kind, text in kinds.items())
    run_note = (f", {with_records} with run records" if records is not None else
                " (no --run given: only cross-version disputes checked)")
    _out.print(f"{safe_terminal(data.name)}: audited {len(data)} items{run_note}; "
               f"{sum(counts.values())} finding(s): {parts}.", highlight=False)
    if records is not None and records.skipped_lines:
        _out.print(f"skipped {len(records.skipped_lines)} unreadable run line(s): "
                   f"{records.skipped_lines[:10]}", highlight=False)


data_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Benchmark datasets: list what is known and available, fetch.")


@data_app.command("list")
def data_list(data_dir: Path | None = typer.Option(None, "--data-dir",
                                                      help="Folder to look in.")) -> None:
    """List the registered datasets, where each was found, and how to get missing ones."""
    from nl2opt.datasets.loader import DatasetNotFoundError, how_to_get, load_dataset
    from nl2opt.datasets.registry import DATASETS

    table = Table()
    for column in ("name", "items", "version", "license", "found at / how to get"):
        table.add_column(column, overflow="fold")
    for entry in DATASETS.values():
        try:
            data = load_dataset(entry, data_dir=data_dir)
            table.add_row(entry.name, str(len(data)), entry.version, entry.license, data.path)
        except DatasetNotFoundError:
            table.add_row(entry.name, "-", entry.version, entry.license, how_to_get(entry))
        except Nl2OptError as error:
            table.add_row(entry.name, "error", entry.version, entry.license,
                          safe_terminal(error))
    _out.print(table)


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument(..., help="A registered dataset name."),
               data_dir: Path | None = typer.Option(None, "--data-dir", help="Where to "
                                                       "save. Default: $NL2OPT_DATA_DIR, "
                                                       "else the user cache.")) -> None:
    """Download a dataset's public source file(s) and check their sha256."""
    from nl2opt.datasets.loader import fetch_dataset

    try:
        paths = fetch_dataset(name, data_dir)
    except Nl2OptError as error:
        _fail(str(error))
    for path in paths:
        _out.print(f"saved {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `audit` and the `data` command group to the nl2opt app."""
    app.command("audit")(audit_command)
    app.add_typer(data_app, name="data")
