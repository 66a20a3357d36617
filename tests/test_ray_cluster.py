"""Evaluation on a simulated two-node Ray cluster (`ray.cluster_utils.Cluster`: a head
that schedules and two one-CPU worker nodes, as production clusters are often laid out):
the same records as the local runner, and a node lost mid-run loses nothing."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from test_eval_runner import PROBLEMS, QuestionBackend, config, question
from test_ray_local import chain, solving_pids

from nl2opt.cluster.solve_pool import RaySolvePool
from nl2opt.datasets import load_dataset
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.llm.types import LLMResponse

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'nl2opt[ray]' (CI installs "
                                        "it in its Ray step)")
cluster_utils = pytest.importorskip("ray.cluster_utils", reason="needs Ray's cluster_utils")

CHAIN_LENGTH = 40_000


@pytest.fixture(scope="module")
def two_nodes():
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


class ChainBackend(QuestionBackend):
    """The toy problems, plus one ("chain") whose model takes seconds to solve."""

    def generate(self, requests):
        answers = []
        for request in requests:
            if "Keyword chain." in request.messages[-1].content:
                text = json.dumps({"reasoning": "slow", "formulation": chain(CHAIN_LENGTH)})
                answers.append([LLMResponse(text=text, finish_reason="stop")] * request.n)
            else:
                answers.extend(super().generate([request]))
        return answers


def write_chain_dataset(path):
    """The chain first (so it is solved while the toy problems come and go), then the toy."""
    rows = [{"uid": "toy/chain", "dataset": "toy", "question": question("chain"),
             "answer": CHAIN_LENGTH / 2, "answer_status": "optimal"}]
    rows += [{"uid": f"toy/{k}", "dataset": "toy", "subset": subset, "question": question(k),
              "answer": label, "answer_status": status}
             for k, (label, status, subset, _) in PROBLEMS.items()]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return load_dataset(path)


def stable(records):
    return {record.uid: record.stable() for record in records}


def test_two_nodes_write_the_records_of_the_local_runner(two_nodes, tmp_path):
    dataset = write_chain_dataset(tmp_path / "toy.jsonl")
    local = run_evaluation(dataset, ChainBackend(), config(), tmp_path / "local")
    on_ray = run_evaluation(dataset, ChainBackend(), config(workers=2), tmp_path / "ray",
                            solve_pool=RaySolvePool(2, memory_mb=1024, time_limit=10.0))
    assert len(on_ray) == len(PROBLEMS) + 1 and stable(on_ray) == stable(local)
    assert {r.uid: r.correct for r in on_ray}["toy/chain"]


def raylet_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])  # the parent: its raylet


def remove_node_solving_the_chain(cluster, removed: list, seconds: float = 120.0) -> None:
    """Wait until a node has been solving for a while (the chain; the rest is quick), then
    take that node away, raylet, workers and all."""
    first_seen: dict[int, float] = {}
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        now = time.monotonic()
        for pid in solving_pids():
            if now - first_seen.setdefault(pid, now) > 0.5:
                raylet = raylet_of(pid)
                node = next(n for n in cluster.worker_nodes
                            if n.all_processes["raylet"][0].process.pid == raylet)
                cluster.remove_node(node)
                removed.append(node)
                return
        time.sleep(0.02)


def test_a_node_lost_mid_run_loses_nothing(two_nodes, tmp_path):
    dataset = write_chain_dataset(tmp_path / "toy.jsonl")
    local = run_evaluation(dataset, ChainBackend(), config(), tmp_path / "local")
    removed: list = []
    remover = threading.Thread(target=remove_node_solving_the_chain, args=(two_nodes, removed))
    remover.start()
    try:
        on_ray = run_evaluation(dataset, ChainBackend(), config(workers=2),
                                tmp_path / "ray",
                                solve_pool=RaySolvePool(2, memory_mb=1024, time_limit=30.0))
    finally:
        remover.join()
        two_nodes.add_node(num_cpus=1)  # back to two worker nodes
    assert removed, "no node was seen solving the chain"
    assert stable(on_ray) == stable(local)
    lines = (tmp_path / "ray" / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(PROBLEMS) + 1 and os.path.exists(tmp_path / "ray" / "run.json")
