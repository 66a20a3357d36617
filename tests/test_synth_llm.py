"""The LLM side of synthesis with fake LLMs through the real client code: back-translation,
critique and refinement, forward modelling, acceptance by equivalence (and its
fallback), rejection with the reason, augmentations, LLM-proposed sizes, `batch:`
runs that stop and resume with nothing asked twice."""

from __future__ import annotations

import json

from synth_llm_helpers import Responder, answer_batch

from nl2opt.formulation.model import Formulation
from nl2opt.llm.batch import BatchBackend
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.synthesis.generate import RunSettings, generate_instances
from nl2opt.synthesis.llm_calls import SynthPending
from nl2opt.synthesis.records import PROBLEMS_FILE, REJECTED_FILE, ProblemRecord, read_records
from nl2opt.synthesis.run import synthesize
from nl2opt.synthesis.verify import VerifyJob, verify_pair


def settings(**changes) -> RunSettings:
    base = {"families": ["knapsack"], "per_family": 2, "tune": False,
            "solve_seconds": (0.0, 10.0), "critique_rounds": 3}
    return RunSettings(**{**base, **changes})


def replies(*items) -> ScriptedBackend:
    return ScriptedBackend([json.dumps(item) for item in items])


def formulate(formulation: dict) -> dict:
    return {"reasoning": "as stated", "formulation": formulation}


def complete() -> dict:
    return {"verdict": "complete", "discrepancies": []}


def decided(out):
    return ({r.uid: r for r in read_records(out / PROBLEMS_FILE, ProblemRecord)},
            {r.uid: r for r in read_records(out / REJECTED_FILE, ProblemRecord)})


def test_faithful_text_accepted_and_dropped_constraint_rejected(tmp_path):
    run = settings()
    sources = [r.formulation for r in sorted(generate_instances(tmp_path, run),
                                             key=lambda r: r.uid)]
    dropped = {**sources[1], "constraints": []}
    llm = replies({"text": "A hiker packs items ..."}, {"text": "Pack items, no limit."},
                  {"verdict": "discrepancies", "discrepancies": [("The weight limit of the "
                                                                 "knapsack is missing.")]},
                  complete(), {"text": "A hiker packs items within 30 kg ..."}, complete(),
                  formulate(sources[0]), formulate(dropped))
    synthesize(tmp_path, run, llm, resume=True)
    accepted, rejected = decided(tmp_path)
    good = accepted["knapsack-00000"]
    assert good.question == "A hiker packs items within 30 kg ..."
    assert good.acceptance.rule == "equivalence" and good.acceptance.equivalence == "equivalent"
    assert good.critique_rounds == 1 and good.answer_status == "optimal"
    assert {p.split("@")[0] for p in good.prompts} == {
        "synth_write.v1", "synth_critic.v1", "synth_refine.v1", "formulate.v3"}
    bad = rejected["knapsack-00001"]
    assert not bad.acceptance.accepted and bad.acceptance.stage == "verify"
    assert bad.acceptance.reason.startswith("not equivalent")
    assert f"vs label optimal {bad.answer:.10g}" in bad.acceptance.reason
    assert bad.recovered["constraints"] == []
    # The refine request told the LLM what the critic found.
    refine = next(r for r in llm.requests if r.prompt_id == "synth_refine.v1")
    assert "- The weight limit of the knapsack is missing." in refine.messages[-1].content


def test_critique_stops_after_the_last_round(tmp_path):
    run = settings(per_family=1, critique_rounds=2)
    source = generate_instances(tmp_path, run)[0].formulation
    issue = {"verdict": "discrepancies", "discrepancies": ["still vague"]}
    llm = replies({"text": "v1"}, issue, {"text": "v2"}, issue, formulate(source))
    synthesize(tmp_path, run, llm, resume=True)
    record = decided(tmp_path)[0]["knapsack-00000"]
    assert record.question == "v2" and record.critique_rounds == 2


def test_unusable_reply_rejects_the_pair_with_the_stage(tmp_path):
    run = settings(per_family=1)
    generate_instances(tmp_path, run)
    synthesize(tmp_path, run, replies("I cannot help with that."), resume=True)
    record = decided(tmp_path)[1]["knapsack-00000"]
    assert record.acceptance.stage == "write"
    assert "no problem text in the LLM's reply" in record.acceptance.reason


def test_unknown_equivalence_falls_back_to_status_and_value():
    import nl2opt
    from nl2opt.synthesis.families import get_family

    model = get_family("pooling").generate({}, 1)
    optimum = nl2opt.solve_formulation(model).objective
    job = VerifyJob("p", model.to_dict(), model.to_dict(), ".", "optimal", optimum,
                    "optimal", optimum)
    accepted = verify_pair(job)
    assert accepted.accepted and accepted.rule == "status_and_value"
    assert accepted.equivalence == "unknown"
    off = verify_pair(VerifyJob("p", model.to_dict(), model.to_dict(), ".", "optimal",
                                optimum + 5, "optimal", optimum))
    assert not off.accepted and "differ" in off.reason


def test_augmentations_are_labelled_and_verified(tmp_path):
    from nl2opt.synthesis.augment import perturb_parameters

    run = settings(per_family=1, critique_rounds=0, augment=["rephrase", "parameters"])
    source = generate_instances(tmp_path, run)[0]
    perturbed = perturb_parameters(source.formulation, source.generator.seed + len(
        "parameters"))
    llm = replies({"text": "original"}, formulate(source.formulation),
                  {"text": "reworded", "formulation": None},
                  {"text": "new numbers", "formulation": None},
                  formulate(source.formulation), formulate(perturbed))
    synthesize(tmp_path, run, llm, resume=True)
    accepted, rejected = decided(tmp_path)
    assert rejected == {}
    reworded = accepted["knapsack-00000~rephrase"]
    assert reworded.augmentation == {"kind": "rephrase", "parent": "knapsack-00000"}
    assert reworded.question == "reworded" and reworded.answer == source.answer
    variant = accepted["knapsack-00000~parameters"]
    assert variant.formulation == perturbed and variant.answer != source.answer
    assert variant.acceptance.rule == "equivalence"
    asked = [r.messages[-1].content for r in llm.requests if r.prompt_id == "synth_augment.v1"]
    assert "different words" in asked[0] and "the new numbers" in asked[1]


def test_a_changed_model_that_does_not_validate_is_rejected(tmp_path):
    run = settings(per_family=1, critique_rounds=0, augment=["constraint"])
    source = generate_instances(tmp_path, run)[0]
    broken = {**source.formulation, "constraints": [{"name": "c", "expression": "y <= 1"}]}
    synthesize(tmp_path, run, replies({"text": "original"}, formulate(source.formulation),
                                      {"text": "with a new rule", "formulation": broken}),
               resume=True)
    record = decided(tmp_path)[1]["knapsack-00000~constraint"]
    assert record.acceptance.stage == "augment"
    assert "the changed formulation is not usable" in record.acceptance.reason


def test_llm_proposed_sizes_are_used_when_they_fit(tmp_path):
    run = settings(tune=True, complexity=(20.0, 40.0), probes=1, llm_settings=True,
                   per_family=1, critique_rounds=0)
    llm = replies({"settings": [{"items": 30}]})
    synthesize(tmp_path, run, llm, resume=False)  # no text replies: the pair is rejected
    tuned = json.loads((tmp_path / "tuning.json").read_text())["knapsack"]
    assert tuned == {"sizes": {"items": 30}, "reached": True, "origin": "llm", "note": "",
                     "probes": 1}
    assert llm.requests[0].prompt_id == "synth_settings.v1"


def test_batch_runs_stop_cleanly_and_resume_without_asking_twice(tmp_path):
    run = settings(families=["knapsack", "transportation"], critique_rounds=1)
    out, batch = tmp_path / "out", tmp_path / "batch"
    responder = Responder(drop_constraints=("Transportation",))
    cycles = 0
    while True:
        try:
            synthesize(out, run, BatchBackend(batch, "m"), resume=cycles > 0)
            break
        except SynthPending as pending:
            assert "vllm run-batch -i" in str(pending.pending)
            cycles += 1
            assert answer_batch(batch, responder, "m") > 0
            assert cycles < 10
    lines = (batch / "requests.jsonl").read_text().splitlines()
    ids = [json.loads(line)["custom_id"] for line in lines]
    assert len(ids) == len(set(ids))  # nothing was queued twice
    accepted, rejected = decided(out)
    assert sorted(accepted) == ["knapsack-00000", "knapsack-00001"]
    assert sorted(rejected) == ["transportation-00000", "transportation-00001"]
    # One offline run per wave: write, critique, formulate, and the pipeline's three
    # repair rounds for the transportation models that came back without constraints.
    assert cycles == 6


def test_a_model_without_its_constraints_is_rejected_by_the_checker():
    """Reproduction: `nl2opt.equivalent` certified a transportation model and the same
    model without constraints as equivalent (a fitted map shifted the matched columns
    onto the empty model's all-zero optimum). The checker now refutes the pair."""
    import nl2opt
    from nl2opt.synthesis.families import get_family

    source = get_family("transportation").generate({}, 0)
    empty = source.model_copy(update={"constraints": []})
    label = nl2opt.solve_formulation(source).objective
    verdict = verify_pair(VerifyJob("t", source.to_dict(), empty.to_dict(), ".", "optimal",
                                    label, "optimal", 0.0))
    assert not verdict.accepted and verdict.stage == "verify"
    assert verdict.equivalence == "not_equivalent", verdict.reason


def test_an_equivalent_verdict_must_also_reproduce_the_label(monkeypatch):
    """Should the checker certify a wrong pair, acceptance still needs the label."""
    from nl2opt.synthesis import verify
    from nl2opt.synthesis.families import get_family

    monkeypatch.setattr(verify, "_equivalence", lambda job: ("equivalent", "a fitted map"))
    source = get_family("transportation").generate({}, 0)
    empty = source.model_copy(update={"constraints": []})
    verdict = verify_pair(VerifyJob("t", source.to_dict(), empty.to_dict(), ".", "optimal",
                                    290.0, "optimal", 0.0))
    assert not verdict.accepted and verdict.stage == "verify"
    assert "recovered optimal 0 vs label optimal 290 differ" in verdict.reason


def test_isomorphic_models_need_no_solve():
    from nl2opt.equivalence import from_formulation
    from nl2opt.synthesis.augment import rename_variables
    from nl2opt.synthesis.families import get_family
    from nl2opt.synthesis.verify import isomorphic

    source = get_family("job_shop").generate({}, 3)
    data = rename_variables(source.to_dict())
    data["constraints"] = data["constraints"][::-1]  # another order
    first = data["constraints"][0]
    lhs, rhs = first["expression"].split(">=")
    first["expression"] = f"-({lhs}) <= -({rhs})"  # the same row, both sides negated
    assert isomorphic(from_formulation(source), from_formulation(Formulation.model_validate(
        data)))
    scaled = dict(data, constraints=[dict(first, expression=f"2 * ({lhs}) >= 2 * ({rhs})"),
                                     *data["constraints"][1:]])
    assert isomorphic(from_formulation(source),
                      from_formulation(Formulation.model_validate(scaled)))
    shifted = dict(data, constraints=[dict(first, expression=f"{lhs} >= {rhs} + 1"),
                                      *data["constraints"][1:]])
    assert not isomorphic(from_formulation(source),
                          from_formulation(Formulation.model_validate(shifted)))
    fewer = dict(data, constraints=data["constraints"][1:])
    assert not isomorphic(from_formulation(source),
                          from_formulation(Formulation.model_validate(fewer)))
    portfolio = get_family("portfolio").generate({"assets": 5}, 2)
    same = Formulation.model_validate(rename_variables(portfolio.to_dict()))
    assert isomorphic(from_formulation(portfolio), from_formulation(same))
    other = get_family("portfolio").generate({"assets": 5}, 3)
    assert not isomorphic(from_formulation(portfolio), from_formulation(other))
