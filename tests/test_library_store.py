"""The experience library's store: versions, statistics, JSONL round trips, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from library_helpers import PERCENT_CONDITION, insight

from nl2opt.library.exchange import export_jsonl, export_lines, import_jsonl
from nl2opt.library.model import Outcome, Stage, Status, TaxonomyPath, TrainingTask
from nl2opt.library.store import LibraryError, LibraryStore


@pytest.fixture
def store(tmp_path):
    with LibraryStore(tmp_path / "lib.sqlite") as opened:
        yield opened


def test_add_edit_approve_retire_keep_every_version(store):
    added = store.add(insight(PERCENT_CONDITION, status=Status.candidate))
    assert store.add(added) == added  # adding the same id again changes nothing
    store.edit(added.id, condition="When a share of a total is capped.", reason="clearer")
    store.approve(added.id)
    store.retire(added.id, "hurt two tasks")
    final = store.require(added.id)
    assert (final.version, final.status, final.note) == (4, Status.retired, "hurt two tasks")
    history = store.history(added.id)
    assert [v.version for v in history] == [1, 2, 3, 4]
    assert history[0].content["condition"] == PERCENT_CONDITION
    assert history[1].reason == "clearer" and history[3].content["status"] == "retired"


def test_statistics_change_in_place_and_twice_is_once(store):
    added = store.add(insight(PERCENT_CONDITION))
    store.record_outcomes(added.id, [(Outcome.positive, "t2"), (Outcome.negative, "t3")])
    store.record_outcomes(added.id, [(Outcome.positive, "t2")])
    stats = store.require(added.id).stats
    assert stats.counts()["positive"] == 1 and stats.negative == ["t3"]
    assert store.require(added.id).version == 1 and len(store.history(added.id)) == 1


def test_list_filters_and_search(store):
    store.add(insight(PERCENT_CONDITION))
    store.add(insight("Items are counted in whole units such as trucks or people.",
                      status=Status.candidate, stage=Stage.formulation,
                      level1="Variable Definition", level2="Integrality"))
    assert len(store.list()) == 2 and len(store.list(Status.verified)) == 1
    assert [i.taxonomy.level2 for i in store.search("whole TRUCKS")] == ["Integrality"]
    assert store.search("percentage") and not store.search("percentage trucks")
    assert {e.path.level2 for e in store.taxonomy()} == {"Integrality", "Percentage limits"}


def test_jsonl_round_trip_is_byte_identical(store, tmp_path):
    added = store.add(insight(PERCENT_CONDITION))
    store.edit(added.id, example="Wrong: x >= 40 * t\nCorrect: x <= 0.4 * t")
    store.record_outcomes(added.id, [(Outcome.unretrieved, "t9")])
    store.put_task(TrainingTask(uid="t1", question="A farm ...", answer=12.5))
    store.journal_put("task:t1", {"outcome": "learned"})
    for full in (False, True):
        first = tmp_path / f"a{full}.jsonl"
        export_jsonl(store, first, full=full)
        with LibraryStore(tmp_path / f"copy{full}.sqlite") as copy:
            import_jsonl(copy, first)
            assert export_lines(copy, full) == first.read_text().splitlines(keepends=True)
            assert copy.require(added.id) == store.require(added.id)


def test_import_keeps_newer_local_edits(store, tmp_path):
    added = store.add(insight(PERCENT_CONDITION))
    export_jsonl(store, tmp_path / "old.jsonl")
    store.edit(added.id, condition="Edited after the export.")
    counts = import_jsonl(store, tmp_path / "old.jsonl")
    assert counts.kept_newer == 1
    assert store.require(added.id).condition == "Edited after the export."


def test_bad_files_are_refused_with_a_reason(tmp_path):
    not_db = tmp_path / "notes.sqlite"
    not_db.write_text("hello, this is not SQLite" * 100)
    with pytest.raises(LibraryError, match="not a usable library file"):
        LibraryStore(not_db)
    with pytest.raises(LibraryError, match="no library file"):
        LibraryStore(tmp_path / "missing.sqlite", create=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "insight"}\n')
    with LibraryStore(tmp_path / "x.sqlite") as store, pytest.raises(LibraryError,
                                                                      match="header"):
        import_jsonl(store, bad)


def test_taxonomy_path_text_round_trip():
    path = TaxonomyPath(stage=Stage.language, level1="Indices", level2="where conditions")
    assert TaxonomyPath.parse(path.label) == path
    with pytest.raises(ValueError):
        TaxonomyPath.parse("only / two")


_WRITER = """
import sys
from nl2opt.library.store import LibraryStore
sys.path.insert(0, sys.argv[2])
from library_helpers import insight
store = LibraryStore(sys.argv[1])
for k in range(100000):
    with store.transaction():
        made = store.add(insight(f"condition number {k}", sources=(f"t{k}",)))
        store.journal_put(f"task:t{k}", {"insight": made.id})
    print(made.id, flush=True)
"""


def test_kill_9_keeps_every_committed_insight(tmp_path):
    """A writer killed mid-stream: every id it reported as committed is in the file,
    with its journal entry (both were in one transaction)."""
    path = tmp_path / "lib.sqlite"
    tests_dir = os.path.dirname(__file__)
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tests_dir],
                               stdout=subprocess.PIPE, text=True)
    committed = []
    while len(committed) < 40:
        line = process.stdout.readline()
        assert line, "the writer stopped early"
        committed.append(line.split()[0])
    time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    committed += [line.split()[0] for line in process.stdout.read().splitlines() if line]
    process.stdout.close()
    with LibraryStore(path, create=False) as store:
        ids = {i.id for i in store.list()}
        assert set(committed) <= ids
        journal = store.journal_keys("task:")
        assert len(journal) == len(ids)  # no insight without its journal entry, or back
