"""Training tasks for learning: from a dataset (name or file) or an evaluation run's failures.

Labels are read here, for training only. Where a file carries a reference
model (AlphaOPT's `correct_program` and `formulation`, a `reference` or
`model` field), it goes with the task for the diagnosis to compare against.
A file that looks like a test split is refused: whatever is learned ends up
in prompts, and test items must never become prompt material.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nl2opt.datasets.loader import item_from_record, iter_rows, load_dataset
from nl2opt.datasets.types import DatasetItem
from nl2opt.evaluation.records import EvalRecord, read_results, read_run_info
from nl2opt.library.model import TrainingTask
from nl2opt.library.store import LibraryError

# (record field, reference kind), first present wins.
REFERENCE_FIELDS = (("reference_formulation", "formulation"), ("formulation", "model"),
                    ("model", "model"), ("reference", "model"), ("correct_program", "program"))


@dataclass
class TaskSource:
    """What `load_tasks` found: the tasks, and (for a run) the records it read."""

    name: str
    tasks: list[TrainingTask]
    run_records: list[EvalRecord] = field(default_factory=list)


def refuse_test_split(name: str) -> None:
    lowered = name.lower()
    if lowered.endswith(("_test", "-test", ".test")) or "/test" in lowered:
        raise LibraryError(f"{name!r} looks like a test split. Learn from training data only "
                           "(e.g. *_train.json): insights become prompt material, and test "
                           "items must never be.")


def task_from_item(item: DatasetItem, record: dict[str, Any] | None = None) -> TrainingTask:
    reference, kind = "", ""
    for name, reference_kind in REFERENCE_FIELDS:
        value = (record or {}).get(name)
        if value not in (None, "", [], {}):
            reference = value if isinstance(value, str) else json.dumps(value)
            kind = reference_kind
            break
    return TrainingTask(uid=item.uid, dataset=item.dataset, question=item.question,
                        answer=item.answer, answer_status=item.answer_status,
                        reference=reference, reference_kind=kind)


def tasks_from_file(path: Path) -> list[TrainingTask]:
    """Tasks from a JSON/JSONL/CSV file, with reference models where the rows have them
    (uids as `nl2opt eval FILE` names them)."""
    tasks = []
    for row_index, (where, record) in enumerate(iter_rows(path)):
        item = item_from_record(record, dataset=path.stem, row_index=row_index,
                                uid_prefix=path.stem, where=where)
        if item is not None:
            tasks.append(task_from_item(item, record))
    return tasks


def load_tasks(source: str | Path, data_dir: str | Path | None = None,
               limit: int | None = None) -> TaskSource:
    """Labelled tasks from a dataset name, a file, or an `nl2opt eval` run directory (its
    failures; its correct answers feed the statistics of the insights they used)."""
    path = Path(source)
    if path.is_dir():
        return _tasks_from_run(path, data_dir, limit)
    refuse_test_split(path.stem if path.suffix else str(source))
    if path.is_file():
        tasks = tasks_from_file(path)
        name = path.stem
    else:
        dataset = load_dataset(str(source), data_dir=data_dir)
        tasks, name = [task_from_item(item) for item in dataset.items], dataset.name
    labelled = [task for task in tasks if task.answer_status != "unlabeled"]
    return TaskSource(name, labelled[:limit] if limit else labelled)


def _tasks_from_run(run_dir: Path, data_dir: str | Path | None, limit: int | None
                    ) -> TaskSource:
    info = read_run_info(run_dir)
    refuse_test_split(Path(info.config.dataset).stem)
    records = read_results(run_dir)
    failed = {r.uid for r in records if r.scored and not r.correct and r.category != "llm_error"}
    source = load_tasks(info.config.dataset, data_dir or info.config.data_dir)
    tasks = [task for task in source.tasks if task.uid in failed]
    return TaskSource(f"run:{run_dir.name}", tasks[:limit] if limit else tasks, records)
