"""Planning a run's instances, and realising one plan entry (a pure worker function).

The plan is deterministic: instance k of family F gets uid `F-0000k`, a seed
derived from (run seed, F, k), a variant drawn at the requested infeasible and
unbounded rates, and the family's tuned sizes. `realize` then jitters the sizes
(so instances differ in shape, not only in data), keeps a jitter whose S(PD) stays
in the band, and redraws the data when a plain instance comes out without an
optimal solution, so natural infeasibility does not leak into the labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from nl2opt.synthesis.families import get_family
from nl2opt.synthesis.family import Sizes
from nl2opt.synthesis.instance import GeneratedInstance, InstanceSpec, Tables, make_instance
from nl2opt.synthesis.tuning import score_sizes

JITTER = (0.75, 1.3)  # each size is scaled by a factor in this range
JITTER_TRIES = 4
REDRAWS = 3


@dataclass(frozen=True)
class PlanEntry:
    spec: InstanceSpec
    band: tuple[float, float] | None = None  # complexity band the jitter must respect


def derived_seed(run_seed: int, family: str, k: int) -> int:
    digest = hashlib.sha256(f"{run_seed}:{family}:{k}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def uid_of(family: str, k: int) -> str:
    return f"{family}-{k:05d}"


def plan_family(family: str, count: int, sizes: Sizes, *, run_seed: int = 0,
                infeasible_rate: float = 0.0, unbounded_rate: float = 0.0,
                tables: Tables = "auto", table_threshold: int = 40,
                time_limit: float | None = 30.0, band: tuple[float, float] | None = None,
                origin: str = "tuned") -> list[PlanEntry]:
    """The first `count` plan entries of one family (entry k never depends on count)."""
    entries = []
    for k in range(count):
        seed = derived_seed(run_seed, family, k)
        draw = np.random.default_rng(seed).random()
        variant = ("infeasible" if draw < infeasible_rate else
                   "unbounded" if draw < infeasible_rate + unbounded_rate else "feasible")
        spec = InstanceSpec(uid_of(family, k), family, dict(sizes), seed, variant, tables,
                            table_threshold, time_limit, origin)
        entries.append(PlanEntry(spec, band))
    return entries


def realize(entry: PlanEntry) -> GeneratedInstance:
    """Jitter the sizes, generate, solve and score; redraw data that has no optimum."""
    spec = replace(entry.spec, sizes=jittered_sizes(entry))
    generated = make_instance(spec)
    for attempt in range(1, REDRAWS + 1):
        if spec.variant != "feasible" or generated.record.answer_status == "optimal":
            break
        spec = replace(spec, seed=spec.seed + 7919 * attempt)
        generated = make_instance(spec)
    return generated


def jittered_sizes(entry: PlanEntry) -> Sizes:
    family = get_family(entry.spec.family)
    rng = np.random.default_rng(entry.spec.seed)
    base = family.check_sizes(entry.spec.sizes)
    for _ in range(JITTER_TRIES):
        sizes = {p.name: p.clip(base[p.name] * rng.uniform(*JITTER)) for p in family.sizes}
        if entry.band is None:
            return sizes
        score = score_sizes(family, sizes, range(entry.spec.seed, entry.spec.seed + 1))[0]
        if entry.band[0] <= score <= entry.band[1]:
            return sizes
    return base
