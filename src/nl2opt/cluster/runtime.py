"""Where a command runs its two stages: on this machine, or on a Ray cluster (`--ray`).

`execution(...)` yields an `Execution`: `make_llm(spec)` builds the LLM backend,
`solve_pool` runs the solve stage (None: the runner's local `SolvePool`) and
`map_items` maps other pure functions (None: worker processes here).
On Ray, `vllm:` specs run as Ray Data replicas (`RayVllmBackend`, one per GPU
or tensor-parallel group unless `replicas` says otherwise) and the solve stage
as Ray tasks (`RaySolvePool`, one slot per cluster CPU unless `workers` says
otherwise); every other spec (`openai:` with one or several URLs, `batch:`,
`replay:`, `record:` around any of them) works as on one machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nl2opt.cluster.session import ClusterError, ClusterInfo, ray_session
from nl2opt.llm import spec as llm_spec
from nl2opt.llm.spec import LLMSpec, build_backend, make_llm, parse_spec
from nl2opt.llm.types import LLMBackend, LLMError

LOCAL_BATCH_SIZE = 64
RAY_VLLM_BATCH_SIZE = 1024


@dataclass(frozen=True)
class Execution:
    make_llm: Callable[[str], LLMBackend]
    solve_pool: Any  # an object with run(jobs) -> outcomes, or None for the local pool
    workers: int  # solve stage slots
    cluster: ClusterInfo | None = None
    # map_items(function, items, workers) -> (item, result) pairs as they finish, or None
    # for worker processes here (`nl2opt.synthesis.workers.in_processes`)
    map_items: Callable | None = None


@contextmanager
def execution(ray_address: str | None, *, workers: int | None, memory_mb: int | None,
              time_limit: float | None, replicas: int | None = None,
              echo: Callable[[str], None] = print) -> Iterator[Execution]:
    """This machine (`ray_address` None) or the Ray cluster at `ray_address`."""
    if ray_address is None:
        # Looked up when called, so whoever replaces nl2opt.llm.spec.make_llm (tests) is used.
        yield Execution(lambda spec: llm_spec.make_llm(spec), None,
                        (os.cpu_count() or 1) if workers is None else workers)
        return
    from nl2opt.cluster.solve_pool import RaySolvePool
    from nl2opt.cluster.tasks import in_ray_tasks

    with ray_session(ray_address, num_cpus=workers or None) as cluster:
        echo(cluster.describe())
        check_memory(cluster, memory_mb)
        slots = workers or cluster.cpus
        pool = RaySolvePool(slots, memory_mb, time_limit)
        yield Execution(lambda spec: cluster_llm(spec, cluster, replicas), pool, slots, cluster,
                        in_ray_tasks)


def default_batch_size(spec: str, ray_address: str | None) -> int:
    """Items per LLM batch: larger for vLLM on Ray, where every batch is a pipeline that
    loads the model on each replica."""
    try:
        parsed = parse_spec(spec)
    except LLMError:
        return LOCAL_BATCH_SIZE
    if parsed.scheme == "record" and parsed.inner is not None:
        parsed = parsed.inner
    return RAY_VLLM_BATCH_SIZE if ray_address and parsed.scheme == "vllm" else LOCAL_BATCH_SIZE


def check_memory(cluster: ClusterInfo, memory_mb: int | None) -> None:
    """A ClusterError when no node could reserve a solve task's memory (it would wait
    forever)."""
    if memory_mb and memory_mb > cluster.largest_node_memory_mb:
        raise ClusterError(f"no node of the cluster can reserve {memory_mb} MB for a solve "
                           f"task (the largest offers {cluster.largest_node_memory_mb} MB); "
                           "lower --memory-mb.")


def cluster_llm(spec: str, cluster: ClusterInfo, replicas: int | None = None) -> LLMBackend:
    """The backend for `spec` on the cluster: `vllm:` as Ray Data replicas."""
    if spec.strip() == "demo":
        return make_llm(spec)
    return _cluster_backend(parse_spec(spec), cluster, replicas)


def _cluster_backend(parsed: LLMSpec, cluster: ClusterInfo, replicas: int | None
                     ) -> LLMBackend:
    if parsed.scheme == "vllm":
        from nl2opt.llm.ray_vllm import RayVllmBackend

        return RayVllmBackend(parsed.model, replicas=vllm_replicas(parsed, cluster, replicas),
                              **parsed.options)
    if parsed.scheme == "record" and parsed.inner is not None:
        from nl2opt.llm.replay import RecordingBackend

        return RecordingBackend(_cluster_backend(parsed.inner, cluster, replicas), parsed.path)
    return build_backend(parsed)


def vllm_replicas(parsed: LLMSpec, cluster: ClusterInfo, replicas: int | None) -> int:
    """`replicas`, or as many as the cluster's GPUs hold; a ClusterError if they don't fit."""
    per_replica = (int(parsed.options.get("tensor_parallel_size", 1))
                   * int(parsed.options.get("pipeline_parallel_size", 1)))
    fit = cluster.gpus // per_replica
    if fit < 1 or (replicas or 0) > fit:
        raise ClusterError(
            f"vllm:{parsed.model} needs {per_replica} GPU(s) per replica and the cluster has "
            f"{cluster.gpus}, so {fit} replica(s) fit{f', not {replicas}' if replicas else ''}. "
            "Add GPU nodes, lower --replicas or tensor_parallel_size, or serve the model "
            "elsewhere and use --llm openai:MODEL@URL1,URL2.")
    return replicas or fit
