"""Learning under `batch:` (stop, answer, resume = an uninterrupted run) and kill -9 during
a real `nl2opt library learn` subprocess."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from library_helpers import farm_optimum, farm_problem
from library_rules import RuleLLM, answer_batch, answer_body, orchard_problem
from llm_server import ChatServer, Reply
from test_library_learn import OPTIONS, TRAINING, farm_task

from nl2opt.library.exchange import export_lines
from nl2opt.library.learn import LearnOptions, learn
from nl2opt.library.solving import LearningPending
from nl2opt.library.store import LibraryStore
from nl2opt.llm.batch import BatchBackend

TASKS = TRAINING + [farm_task("orchard", 80, 30, 600, 100, problem=orchard_problem)]


def test_batch_learning_stops_is_answered_and_ends_like_an_uninterrupted_run(tmp_path):
    llm = RuleLLM()
    llm.name = "batch"  # provenance names the backend; the libraries must agree otherwise
    with LibraryStore(tmp_path / "direct.sqlite") as direct:
        expected = learn(direct, llm, TASKS, OPTIONS)
        direct_lines = export_lines(direct, full=False)
    batch_dir = tmp_path / "batch"
    backend = BatchBackend(batch_dir, "rule")
    answered = []
    with LibraryStore(tmp_path / "batched.sqlite") as batched:
        while True:
            try:
                learn(batched, backend, TASKS, OPTIONS)
                break
            except LearningPending as stop:
                assert "vllm run-batch" in stop.pending.hint
                answered.append(answer_batch(batch_dir))
            assert len(answered) < 40, "the run never finished"
        # The first stop wrote every first request at once: one per task.
        assert answered[0] == len(TASKS) and len(answered) >= 5
        assert export_lines(batched, full=False) == direct_lines
        finished = learn(batched, backend, TASKS, OPTIONS)
        assert finished.skipped == len(TASKS)
    assert expected.outcomes == {"farm-a": "learned", "farm-b": "learned",
                                 "orchard": "rejected"}


def _train_file(path, count: int):
    rows = [{"uid": f"f{k}", "question": farm_problem(50 + 10 * k, 10 + 5 * k, 900, 100),
             "answer": farm_optimum(50 + 10 * k, 10 + 5 * k, 900, 100)} for k in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _committed(library) -> set[str]:
    """Insight ids and finished-task journal keys in the file (read while it is written)."""
    if not library.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{library}?mode=ro", uri=True) as db:
            return ({row[0] for row in db.execute("SELECT id FROM insights")}
                    | {row[0] for row in db.execute("SELECT key FROM journal")
                       if "/task:" in row[0]})
    except sqlite3.OperationalError:
        return set()  # the file exists but its tables are not there yet


def test_kill_9_during_learning_loses_no_committed_insight(tmp_path):
    data = _train_file(tmp_path / "farms_train.jsonl", 6)
    library = tmp_path / "lib.sqlite"

    def slow(body: dict) -> Reply:
        return Reply(text=json.dumps(answer_body(body)), delay=0.05)

    with ChatServer(slow, model="rule") as server:
        command = [sys.executable, "-m", "nl2opt.cli", "library", "learn", str(data),
                   "--library", str(library), "--llm", f"openai:rule@{server.base_url}",
                   "--rounds", "1", "--batch-size", "1", "--explore-tries", "1"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(_committed(library)) < 3 and time.monotonic() < deadline:
            assert process.poll() is None, "learning finished before it could be killed"
            time.sleep(0.05)
        seen = _committed(library)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL  # killed mid-run, not finished
        assert len(seen) >= 3 and any(key.startswith("ins-") for key in seen)
        after = _committed(library)
        assert seen <= after
        resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True,
                                 timeout=300)
        assert resumed.returncode == 0, resumed.stderr
    with LibraryStore(library, create=False) as store:
        assert seen <= {i.id for i in store.list()} | set(store.journal_keys())
        with LibraryStore(tmp_path / "direct.sqlite") as direct:
            from nl2opt.library.tasks import load_tasks

            llm = RuleLLM()
            llm.name = "openai"  # as the subprocess's backend is named
            learn(direct, llm, load_tasks(data).tasks, LearnOptions(
                run="farms_train", rounds=1, batch_size=1, explore_tries=1))
            assert export_lines(store) == export_lines(direct)
