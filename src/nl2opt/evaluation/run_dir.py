"""The run directory of an evaluation: one process at a time, created or reopened safely.

`run_lock` holds an exclusive `flock` on ``run.lock`` while a run writes, so a
second `nl2opt eval` on the same directory fails at once instead of appending
the same items twice. The lock belongs to the open file: it is released when
the run ends, raises, or is killed (the kernel drops it with the process).
`prepare_run_dir` writes run.json for a new run, or checks that a resumed run
has the same settings and the same data (by dataset name and file hash, not by
the path it was given as).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from nl2opt.datasets.types import Dataset
from nl2opt.evaluation.records import (
    RESULTS_FILE,
    RUN_FILE,
    EvaluationError,
    RunConfig,
    RunInfo,
    read_run_info,
    write_run_info,
)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks of this kind; runs are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "run.lock"


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold `run_dir` for this process; EvaluationError if another process holds it."""
    path = Path(run_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise EvaluationError(
                    f"{run_dir} is in use by another evaluation ({holder}); two runs on one "
                    "directory would evaluate the same items twice. Wait for that run to "
                    "finish (or stop it), then continue with --resume.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield  # closing the file releases the lock


def prepare_run_dir(out: Path, dataset: Dataset, config: RunConfig, resume: bool) -> RunInfo:
    """Create or reopen a run directory; refuse to mix configurations or clobber results."""
    import nl2opt

    results = out / RESULTS_FILE
    if results.exists() and results.stat().st_size and not resume:
        raise EvaluationError(f"{out} already holds results. Pass --resume to continue that "
                              "run, or choose another --out directory.")
    uids = [item.uid for item in dataset.items]
    if resume and (out / RUN_FILE).exists():
        info = read_run_info(out)
        check_resumable(info, dataset, config)
        known = set(info.uids)
        info.uids += [uid for uid in uids if uid not in known]
        info.resumed_at.append(now())
        info.finished_at = None
    else:
        info = RunInfo(config=config, dataset_name=dataset.name,
                       dataset_version=dataset.version, dataset_file_hash=dataset.file_hash,
                       items=len(uids), nl2opt_version=nl2opt.__version__, started_at=now(),
                       uids=uids)
    info.items = len(info.uids) or info.items
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, info)
    return info


def check_resumable(info: RunInfo, dataset: Dataset, config: RunConfig) -> None:
    """EvaluationError listing every setting or data change since the run started."""
    before, current = info.config.resume_key(), config.resume_key()
    changed = [f"{name}: {before[name]!r} -> {current[name]!r}" for name in before
               if before[name] != current[name]]
    if info.dataset_name != dataset.name:
        changed.append(f"dataset: {info.dataset_name!r} -> {dataset.name!r}")
    if info.dataset_file_hash != dataset.file_hash:
        changed.append(f"dataset file hash: {info.dataset_file_hash[:12]} -> "
                       f"{dataset.file_hash[:12]}")
    if changed:
        raise EvaluationError("cannot resume: the run was started with other settings ("
                              + "; ".join(changed) + "). Use the original settings or a new "
                              "--out directory.")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
