"""Refinement (condition rewriting by AlphaOPT's score, retirement) and merging's largest
verified subset."""

from __future__ import annotations

import pytest
from library_helpers import farm_problem, insight
from library_rules import REFINED, RuleLLM

from nl2opt.library.merge import MergeProposal, apply_merges, merge_groups
from nl2opt.library.model import InsightDraft, Outcome, Status, TrainingTask
from nl2opt.library.refine import RefineOptions, refine, variant_score
from nl2opt.library.store import LibraryStore

SHOP = "A shop gives a 10% discount on shirts costing ${price}. Maximize revenue from {n} shirts."


@pytest.fixture
def store(tmp_path):
    with LibraryStore(tmp_path / "lib.sqlite") as opened:
        yield opened


def _task(store, uid: str, question: str) -> str:
    store.put_task(TrainingTask(uid=uid, question=question, answer=1.0))
    return uid


def test_variant_score_is_alphaopts():
    # 2 positive (both still retrieved), 2 negative (1 still retrieved), 1 unretrieved (now hit)
    assert variant_score(2, 2, 1, 2, 1, 1) == pytest.approx((2 + 1 + (2 - 1)) / 5)
    assert variant_score(0, 0, 0, 0, 0, 0) == 0.0


def test_refine_rewrites_a_too_broad_condition_and_keeps_what_it_still_matches(store):
    broad = store.add(insight("The problem mentions a percentage."))
    outcomes = [(Outcome.positive, _task(store, "farm", farm_problem(100, 40, 500, 300)))]
    outcomes += [(Outcome.negative, _task(store, f"shop{k}", SHOP.format(price=20 + k, n=9)))
                 for k in range(2)]
    store.record_outcomes(broad.id, outcomes)
    llm = RuleLLM()
    summary = refine(store, llm, RefineOptions(variants=2))
    assert [r.after for r in summary.rewrites] == [REFINED[0]]
    rewrite = summary.rewrites[0]
    assert (rewrite.score_before, rewrite.score_after) == (pytest.approx(1 / 3), 1.0)
    refined = store.require(broad.id)
    assert refined.condition == REFINED[0] and refined.version == 2
    assert refined.stats.positive == ["farm"] and refined.stats.negative == []
    assert store.history(broad.id)[1].reason.startswith("refined: score 0.33 -> 1.00")
    # One refine request, one batched check for all replays.
    kinds = [r.prompt_id for r in llm.requests]
    assert kinds.count("library_refine.v1") == 1
    assert summary.retired == []


def test_refine_keeps_the_condition_when_no_candidate_beats_it(store):
    good = store.add(insight("The statement limits a share to at most a percentage."))
    store.record_outcomes(good.id, [
        (Outcome.positive, _task(store, "farm", farm_problem(100, 40, 500, 300))),
        (Outcome.unretrieved, _task(store, "shop", SHOP.format(price=5, n=3)))])
    summary = refine(store, RuleLLM(), RefineOptions(variants=2))
    assert summary.rewrites == [] and store.require(good.id).version == 1


def test_refine_retires_insights_that_hurt_more_than_they_help(store):
    harmful = store.add(insight("Anything at all.", sources=("x",)))
    store.record_outcomes(harmful.id, [(Outcome.negative, "gone1"), (Outcome.negative, "gone2"),
                                       (Outcome.positive, "gone3")])
    once = store.add(insight("Only once harmful.", sources=("y",)))
    store.record_outcomes(once.id, [(Outcome.negative, "gone4")])
    summary = refine(store, RuleLLM(), RefineOptions(min_negative=2))
    assert summary.retired == [harmful.id]
    retired = store.require(harmful.id)
    assert retired.status is Status.retired and "misled 2 task(s), helped 1" in retired.note
    assert store.require(once.id).status is Status.verified


def test_merge_groups_and_the_largest_verified_subset(store):
    members = [store.add(insight(f"The problem caps crop {k} at a percentage of land.",
                                 sources=(f"t{k}",))) for k in range(3)]
    unrelated = store.add(insight("Trucks come in whole numbers.", sources=("u",),
                                  level1="Variable Definition", level2="Integrality"))
    groups = merge_groups(members[:1], store.list(Status.verified))
    assert [[i.id for i in g] for g in groups] == [sorted(i.id for i in members)]
    draft = InsightDraft(taxonomy=members[0].taxonomy, explanation="As a fraction.",
                         condition="The problem caps a quantity at a percentage of a total.")
    big = MergeProposal(members, draft)
    # The merged insight fixed the source tasks of members 0 and 1 only.
    added = apply_merges(store, [big], {0: {"t0", "t1"}})
    assert len(added) == 1 and added[0].provenance.merged_from == [m.id for m in members[:2]]
    assert added[0].provenance.source_tasks == ["t0", "t1"]
    assert store.require(members[2].id).status is Status.verified
    assert store.require(members[0].id).status is Status.retired
    assert store.require(unrelated.id).status is Status.verified
    # A later, smaller proposal cannot merge members already merged.
    assert apply_merges(store, [MergeProposal(members[:2], draft)], {0: {"t0", "t1"}}) == []


def test_refine_under_batch_stops_and_ends_like_an_uninterrupted_run(tmp_path):
    from library_rules import answer_batch

    from nl2opt.library.exchange import export_lines
    from nl2opt.library.solving import LearningPending
    from nl2opt.llm.batch import BatchBackend

    def prepared(path):
        store = LibraryStore(path)
        broad = store.add(insight("The problem mentions a percentage."))
        store.record_outcomes(broad.id, [
            (Outcome.positive, _task(store, "farm", farm_problem(100, 40, 500, 300))),
            (Outcome.negative, _task(store, "shop", SHOP.format(price=5, n=3)))])
        return store

    with prepared(tmp_path / "direct.sqlite") as direct:
        refine(direct, RuleLLM(), RefineOptions(variants=2))
        expected = export_lines(direct)
    backend, stops = BatchBackend(tmp_path / "batch", "rule"), 0
    with prepared(tmp_path / "batched.sqlite") as batched:
        while True:
            try:
                refine(batched, backend, RefineOptions(variants=2))
                break
            except LearningPending:
                stops += 1
                answer_batch(tmp_path / "batch")
            assert stops < 10
        assert stops >= 2 and export_lines(batched) == expected
