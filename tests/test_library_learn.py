"""Learning: a recurring mistake learned from training tasks, verified, merged, retrieved for
an unseen task and fixing it; useless insights rejected; resuming; learning from an
evaluation run and from a person's correction."""

from __future__ import annotations

import json

import pytest
from library_helpers import farm_answer, farm_optimum, farm_problem
from library_rules import RuleLLM, orchard_problem

from nl2opt.library.correction import correction_task, learn_from_correction
from nl2opt.library.learn import LearnOptions, learn
from nl2opt.library.model import Status, TrainingTask
from nl2opt.library.retrieval import open_retriever
from nl2opt.library.store import LibraryStore
from nl2opt.library.tasks import load_tasks
from nl2opt.pipeline.run import PipelineOptions, solve_text

OPTIONS = LearnOptions(run="test", rounds=1, explore_tries=2, verify_attempts=2)


def farm_task(uid: str, *numbers: int, problem=farm_problem) -> TrainingTask:
    return TrainingTask(uid=uid, dataset="farms", question=problem(*numbers),
                        answer=farm_optimum(*numbers))


TRAINING = [farm_task("farm-a", 100, 40, 500, 300), farm_task("farm-b", 60, 25, 700, 200)]


@pytest.fixture
def store(tmp_path):
    with LibraryStore(tmp_path / "lib.sqlite") as opened:
        yield opened


def test_recurring_mistake_is_learned_verified_merged_and_fixes_an_unseen_task(store):
    summary = learn(store, RuleLLM(), TRAINING, OPTIONS)
    assert summary.outcomes == {"farm-a": "learned", "farm-b": "learned"}
    verified = store.list(Status.verified)
    assert len(verified) == 1 and verified[0].id in summary.merged
    merged = verified[0]
    assert merged.provenance.origin == "merged"
    assert merged.provenance.source_tasks == ["farm-a", "farm-b"]
    assert sorted(merged.stats.positive) == ["farm-a", "farm-b"]
    assert all(store.require(i).status is Status.retired for i in merged.provenance.merged_from)
    assert len(merged.provenance.merged_from) == 2
    # The taxonomy grew with the new label.
    assert [e.path.level2 for e in store.taxonomy()] == ["Percentage limits"]
    # An unseen problem of the same family: wrong without the library, right with it.
    unseen = farm_problem(90, 30, 800, 100)
    llm = RuleLLM()
    without = solve_text(unseen, llm, PipelineOptions(rounds=1))
    assert without.objective != farm_optimum(90, 30, 800, 100)
    report = solve_text(unseen, llm, PipelineOptions(rounds=1),
                        insights=open_retriever(store, llm))
    assert report.objective == pytest.approx(farm_optimum(90, 30, 800, 100))
    assert report.insight_ids == [merged.id]


def test_an_insight_that_does_not_fix_its_source_task_is_rejected(store):
    orchard = farm_task("orchard", 80, 30, 600, 100, problem=orchard_problem)
    summary = learn(store, RuleLLM(), [orchard], OPTIONS)
    assert summary.outcomes == {"orchard": "rejected"} and store.list() == []
    # Both diagnosis attempts ran, the second one told what had failed.
    llm = RuleLLM()
    learn(store, llm, [orchard], LearnOptions(run="again", rounds=0, verify_attempts=2))
    diagnoses = [r for r in llm.requests if r.prompt_id == "library_diagnose.v1"]
    assert len(diagnoses) == 2 and "did not make the answer correct" in \
        diagnoses[1].messages[-1].content


def test_a_resumed_run_skips_finished_tasks_and_a_correct_answer_counts_positive(store):
    learn(store, RuleLLM(), TRAINING[:1], OPTIONS)
    learned = store.list(Status.verified)[0]
    llm = RuleLLM()
    again = learn(store, llm, TRAINING[:1], OPTIONS)
    assert again.skipped == 1 and llm.requests == []
    later = learn(store, RuleLLM(), [farm_task("farm-c", 70, 10, 900, 100)],
                  LearnOptions(run="later", rounds=1))
    assert later.outcomes == {"farm-c": "correct"}
    assert store.require(learned.id).stats.positive == ["farm-a", "farm-c"]


def test_learning_from_an_evaluation_run_uses_its_failures(tmp_path, store):
    from nl2opt.datasets import load_dataset
    from nl2opt.evaluation.records import RunConfig
    from nl2opt.evaluation.runner import run_evaluation

    dataset = tmp_path / "farms_train.jsonl"
    rows = [{"uid": t.uid, "question": t.question, "answer": t.answer} for t in TRAINING]
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = RunConfig(dataset=str(dataset), llm="rule", rounds=0, workers=0)
    run_evaluation(load_dataset(dataset), RuleLLM(), config, tmp_path / "run")
    source = load_tasks(tmp_path / "run")
    assert sorted(t.uid for t in source.tasks) == ["farms_train/farm-a", "farms_train/farm-b"]
    assert len(source.run_records) == 2
    summary = learn(store, RuleLLM(), source.tasks, OPTIONS)
    assert summary.count("learned") == 2


def test_test_splits_are_refused(tmp_path):
    from nl2opt.library.store import LibraryError

    path = tmp_path / "nl4opt_test.json"
    path.write_text("[]")
    with pytest.raises(LibraryError, match="test split"):
        load_tasks(path)


def test_a_persons_correction_becomes_a_training_task(store):
    problem = farm_problem(50, 20, 900, 300)
    wrong = farm_answer(f"Problem:\n{problem}", correct=False)["formulation"]
    task = correction_task(problem, wrong, farm_optimum(50, 20, 900, 300))
    assert task.dataset == "person" and task.failing_formulation == wrong
    summary = learn_from_correction(store, RuleLLM(), problem, wrong,
                                    farm_optimum(50, 20, 900, 300))
    assert summary.outcomes == {task.uid: "learned"}
    assert store.get_task(task.uid).reference_kind == "formulation"
