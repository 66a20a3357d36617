"""On a local Ray cluster (`ray.init(num_cpus=2)`, one per module): the solve stage as Ray
tasks (limits, watchdog, a killed worker), `nl2opt eval --ray` giving the same records as the
local runner, a killed driver resumed with nothing lost or duplicated, and `nl2opt synth
--ray` and `nl2opt library learn --ray` giving what a local run gives."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from library_helpers import farm_optimum, farm_problem
from library_rules import RuleLLM
from llm_server import ChatServer
from synth_llm_helpers import Responder
from test_eval_runner import (
    PROBLEMS,
    _subprocess_eval,
    assert_resumed_equals_clean,
    cli_app,
    config,
    keyword_of,
    record_answers,
    round_of,
    scripted_reply,
    write_dataset,
)
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.cluster.solve_pool import RaySolvePool
from nl2opt.datasets import load_dataset
from nl2opt.evaluation.records import read_results
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.evaluation.solve_stage import SolveJob, check_and_solve
from nl2opt.library.learn import LearnOptions, learn
from nl2opt.library.model import Status
from nl2opt.library.store import LibraryStore
from nl2opt.library.tasks import load_tasks
from nl2opt.llm.replay import RecordingBackend
from nl2opt.llm.spec import make_llm
from nl2opt.synthesis.records import PROBLEMS_FILE, REJECTED_FILE, ProblemRecord, read_records

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'nl2opt[ray]' (CI installs "
                                        "it in its Ray step)")

TASK_TITLE = b"ray::solve_with_memory_cap"  # a Ray worker's process title while it solves


@pytest.fixture(scope="module")
def cluster():
    """One local two-CPU cluster for the module (starting Ray takes seconds)."""
    context = ray.init(address="local", num_cpus=2, include_dashboard=False,
                       log_to_driver=False)
    yield context
    ray.shutdown()


def formulation_of(keyword: str) -> dict:
    return json.loads(scripted_reply(keyword, 0))["formulation"]


def chain(length: int) -> dict:
    """An LP that takes a few seconds to build and solve (optimum length / 2)."""
    return {"sets": [{"name": "I", "range": [1, length]}],
            "variables": [{"name": "x", "index": ["I"], "upper": 1}],
            "objective": {"sense": "maximize", "expression": "sum(x[i] for i in I)"},
            "constraints": [{"name": "pair", "forall": ["i in I"], "where": "i > 1",
                             "expression": "x[i] + x[i-1] <= 1"}]}


def comparable(outcome):
    result = outcome.result
    return (outcome.stage, outcome.failure, outcome.problems, outcome.problem_class,
            result and (result.termination, result.objective))


def test_ray_tasks_give_the_outcomes_of_the_inline_solve(cluster):
    jobs = [SolveJob(id=k, formulation=formulation_of(keyword), time_limit=10.0)
            for k, keyword in enumerate(["juice", "dragon", "ghost", "crates", "fence"])]
    outcomes = RaySolvePool(2, memory_mb=2048, time_limit=10.0).run(jobs)
    assert [comparable(o) for o in outcomes] == [comparable(check_and_solve(job))
                                                 for job in jobs]
    assert outcomes[0].result.objective == pytest.approx(11.0)


def test_an_exception_raised_by_the_task_is_an_outcome_of_its_job_alone(cluster):
    # An exception inside the task is the job's own failure, which Ray does not retry
    # (retry_exceptions=False), reported as the local pool reports it.
    jobs = [SolveJob(0, {"variables": "not a list"}), SolveJob(1, formulation_of("juice"))]
    outcomes = RaySolvePool(2).run(jobs)
    assert outcomes[0].failure == "solver_error" and "Solving failed" in outcomes[0].problems[0]
    assert outcomes[1].result.objective == pytest.approx(11.0)
    broken = RaySolvePool(1, solve=int).run([SolveJob(0, formulation_of("juice"))])
    assert broken[0].problems[0].startswith("Solving failed: TypeError(")


def test_memory_cap_inside_the_task_fails_one_job_alone(cluster):
    # 16 million quadratic terms (under the size limit) need far more than 600 MB to
    # compile; on Ray the cap is that much above the worker's own address space.
    huge = {"sets": [{"name": "I", "range": [1, 4_000]}],
            "variables": [{"name": "x", "index": ["I"]}],
            "objective": {"sense": "minimize",
                          "expression": "sum(x[i] for i in I) * sum(x[j] for j in I)"},
            "constraints": []}
    pool = RaySolvePool(2, memory_mb=600, time_limit=10.0)
    outcomes = pool.run([SolveJob(0, huge), SolveJob(1, formulation_of("juice"))])
    assert outcomes[0].failure == "solver_error"
    assert "memory" in outcomes[0].problems[0]
    assert outcomes[1].result.objective == pytest.approx(11.0)


def test_watchdog_cancels_an_overrunning_task_and_the_pool_goes_on(cluster):
    pool = RaySolvePool(2, grace_seconds=0.5)
    outcomes = pool.run([SolveJob(0, chain(100_000)), SolveJob(1, formulation_of("juice"))])
    assert outcomes[0].failure == "timeout" and not outcomes[0].problems
    assert outcomes[0].result.termination.value == "time_limit"
    assert outcomes[1].result.objective == pytest.approx(11.0)
    [again] = RaySolvePool(2).run([SolveJob(0, formulation_of("juice"))])
    assert again.result.objective == pytest.approx(11.0)


def solving_pids() -> list[int]:
    """Ray workers running a solve task now (their process title says so)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if handle.read().startswith(TASK_TITLE):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def kill_solving_workers(count: int, killed: list[int], deadline: float = 120.0) -> None:
    """SIGKILL the first worker seen solving (once `count` are), as an OOM killer or a
    failing machine would."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        pids = solving_pids()
        if len(pids) >= count:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
            return
        time.sleep(0.02)


def test_a_worker_killed_mid_job_is_retried_and_nothing_is_lost(cluster):
    jobs = [SolveJob(0, chain(40_000), time_limit=60.0),
            SolveJob(1, formulation_of("juice"), time_limit=60.0)]
    killed: list[int] = []
    killer = threading.Thread(target=kill_solving_workers, args=(1, killed))
    killer.start()
    outcomes = RaySolvePool(1, time_limit=60.0).run(jobs)  # one slot: the chain runs first
    killer.join()
    assert killed, "no solving worker was seen"
    assert outcomes[0].failure is None and outcomes[0].result.objective == pytest.approx(20_000)
    assert outcomes[1].result.objective == pytest.approx(11.0)


def test_eval_command_on_ray_writes_the_records_of_the_local_runner(cluster, tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl")
    recording = record_answers(tmp_path, dataset_path)
    spec = f"replay:{recording}"
    local = run_evaluation(load_dataset(dataset_path), make_llm(spec),
                           config(llm=spec, workers=1), tmp_path / "local")
    out = tmp_path / "on-ray"
    result = CliRunner().invoke(cli_app(), [
        "eval", str(dataset_path), "--llm", spec, "--rounds", "1", "--ray", "auto",
        "--out", str(out), "--time-limit", "10", "--batch-size", "4", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "Ray cluster" in result.output and "2 CPU(s)" in result.output
    records = read_results(out)
    assert len((out / "results.jsonl").read_text().splitlines()) == len(PROBLEMS)
    assert {r.uid: r.stable() for r in records} == {r.uid: r.stable() for r in local}
    assert json.loads((out / "run.json").read_text())["config"]["workers"] == 2


def test_driver_killed_then_resumed_on_ray_loses_and_duplicates_nothing(cluster, tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl")
    address = ray.get_runtime_context().gcs_address

    def answer(body):  # slow enough that the driver can be killed mid-way
        time.sleep(0.3)
        text = body["messages"][-1]["content"]
        return scripted_reply(keyword_of(text), round_of(text))

    out, results = tmp_path / "run", tmp_path / "run" / "results.jsonl"
    with ChatServer(answer) as server:
        spec = f"openai:test-model@{server.base_url}"
        driver = _subprocess_eval(dataset_path, spec, out, tmp_path / "first.log",
                                  "--ray", address)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and driver.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.02)
        assert driver.poll() is None, (tmp_path / "first.log").read_text()
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        assert 1 <= len(read_results(out)) < len(PROBLEMS)
        resumed = _subprocess_eval(dataset_path, spec, out, tmp_path / "resumed.log",
                                   "--ray", address, "--resume")
        assert resumed.wait(timeout=300) == 0, (tmp_path / "resumed.log").read_text()
        clean = run_evaluation(load_dataset(dataset_path), make_llm(spec),
                               config(llm=spec, workers=1, batch_size=8), tmp_path / "clean")
    assert_resumed_equals_clean(out, clean)


# -- synthesis and library learning on the same cluster -------------------------------

SYNTH = ["synth", "--families", "knapsack", "--per-family", "2", "--no-tune",
         "--critique-rounds", "1", "--batch-size", "2"]


def synthesized(out):
    return sorted((r.uid, r.acceptance.accepted, r.question, json.dumps(r.formulation))
                  for name in (PROBLEMS_FILE, REJECTED_FILE)
                  for r in read_records(out / name, ProblemRecord))


def test_synth_on_ray_writes_the_pairs_of_a_local_run(cluster, tmp_path):
    with ChatServer(Responder()) as server:
        spec = f"openai:test-model@{server.base_url}"
        local = CliRunner().invoke(app, [*SYNTH, "--llm", spec, "--workers", "1",
                                         "--out", str(tmp_path / "local")])
        assert local.exit_code == 0, local.output
        on_ray = CliRunner().invoke(app, [*SYNTH, "--llm", spec, "--ray", "auto",
                                          "--out", str(tmp_path / "ray")])
    assert on_ray.exit_code == 0, on_ray.output
    assert "Ray cluster" in on_ray.output
    pairs = synthesized(tmp_path / "ray")
    assert len(pairs) == 2 and all(accepted for _, accepted, _, _ in pairs)
    assert pairs == synthesized(tmp_path / "local")
    assert (tmp_path / "ray" / "sft.jsonl").read_text().count("\n") == 2


def test_library_learn_on_ray_learns_what_a_local_run_learns(cluster, tmp_path):
    training = tmp_path / "farms.jsonl"
    training.write_text("".join(json.dumps({"uid": uid, "question": farm_problem(*numbers),
                                            "answer": farm_optimum(*numbers)}) + "\n"
                                for uid, numbers in (("a", (100, 40, 500, 300)),
                                                     ("b", (60, 25, 700, 200)))))
    recording = tmp_path / "llm.jsonl"
    options = LearnOptions(run="farms", rounds=1, explore_tries=2, verify_attempts=2)
    with LibraryStore(tmp_path / "local.sqlite", create=True) as store:
        local = learn(store, RecordingBackend(RuleLLM(), recording),
                      load_tasks(training).tasks, options)
        learned = sorted(i.condition for i in store.list(Status.verified))
    result = CliRunner().invoke(app, [
        "library", "learn", str(training), "--library", str(tmp_path / "ray.sqlite"),
        "--llm", f"replay:{recording}", "--rounds", "1", "--explore-tries", "2",
        "--verify-attempts", "2", "--ray", "auto"])
    assert result.exit_code == 0, result.output
    assert "Ray cluster" in result.output and local.count("learned") == 2
    with LibraryStore(tmp_path / "ray.sqlite") as store:
        assert sorted(i.condition for i in store.list(Status.verified)) == learned
