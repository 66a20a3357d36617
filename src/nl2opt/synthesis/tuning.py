"""OptMATH's feedback loop: choose a family's sizes so its instances hit a complexity
band, a solve-time band and a feasibility rate.

The search is deterministic. Sizes move together along one path from the
family's smallest to its largest setting (`Family.interpolate(t)`); S(PD) grows
along it, so bisection finds the stretch of the path inside the complexity band
(compiling only, no solving). Points of that stretch are then probed by solving a
few instances, middle first; a point whose solves are too slow sends the search
towards the band's low end, one that is too easy towards its high end. An LLM
may propose sizes first (`proposer`); its proposals are probed the same way and
the deterministic search takes over when none fits.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from nl2opt.synthesis.complexity import complexity
from nl2opt.synthesis.family import Family, Sizes
from nl2opt.synthesis.instance import InstanceSpec, make_instance

BISECTION_STEPS = 14  # resolution of the complexity search along the size path
MAX_SOLVE_PROBES = 6  # settings solved before the loop gives up


@dataclass(frozen=True)
class Targets:
    """What the loop aims for (OptMATH: complexity [50, 150], solve time [0.1, 30] s,
    at least 90% feasible)."""

    complexity: tuple[float, float] = (50.0, 150.0)
    solve_seconds: tuple[float, float] = (0.0, 30.0)
    feasible_rate: float = 0.9
    probes: int = 3  # instances solved per probed setting


@dataclass(frozen=True)
class Probe:
    """One setting tried: its sizes and what its instances measured."""

    sizes: Sizes
    scores: tuple[float, ...]
    seconds: tuple[float, ...] = ()
    feasible: float | None = None
    origin: str = "search"

    @property
    def score(self) -> float:
        return statistics.median(self.scores)

    def verdict(self, targets: Targets) -> str:
        """'fits', or what is wrong: 'too simple', 'too complex', 'too slow', ..."""
        low, high = targets.complexity
        if self.score < low:
            return "too simple"
        if self.score > high:
            return "too complex"
        if self.feasible is None:
            return "not solved"
        if self.feasible < targets.feasible_rate:
            return "too often infeasible"
        if max(self.seconds) > targets.solve_seconds[1]:
            return "too slow"
        if statistics.median(self.seconds) < targets.solve_seconds[0]:
            return "too fast"
        return "fits"


@dataclass
class Tuning:
    """The loop's result: the sizes to generate with, and every probe on the way."""

    family: str
    sizes: Sizes
    reached: bool
    origin: str
    probes: list[Probe] = field(default_factory=list)
    note: str = ""


Proposer = Callable[[Family, Targets, list[Probe]], list[Sizes]]


def tune_family(family: Family, targets: Targets = Targets(), seed: int = 0,
                proposer: Proposer | None = None, rounds: int = 2) -> Tuning:
    """Sizes for `family` meeting `targets` (see the module docstring)."""
    probes: list[Probe] = []
    for _ in range(rounds if proposer is not None else 0):
        for sizes in proposer(family, targets, probes):
            probe = solve_probe(family, family.check_sizes(sizes), targets, seed, "llm")
            probes.append(probe)
            if probe.verdict(targets) == "fits":
                return Tuning(family.name, probe.sizes, True, "llm", probes)
    low, high = _in_band_stretch(family, targets, seed, probes)
    if low is None:
        closest = min(probes, key=lambda p: _distance(p.score, targets))
        probe = solve_probe(family, closest.sizes, targets, seed)
        probes.append(probe)
        tuning = _fallback(family, targets, seed, probes)
        tuning.note = (f"no size of {family.name} gives complexity in {targets.complexity}; "
                       + tuning.note.split("; ", 1)[1])
        return tuning
    return _probe_stretch(family, targets, seed, low, high, probes)


def score_sizes(family: Family, sizes: Sizes, seeds: range) -> tuple[float, ...]:
    """S(PD) of the family's instances at `sizes` (compiled, not solved)."""
    return tuple(complexity(family.generate(sizes, s)).score for s in seeds)


def solve_probe(family: Family, sizes: Sizes, targets: Targets, seed: int,
                origin: str = "search") -> Probe:
    """Generate and solve `targets.probes` instances at `sizes`."""
    records = [make_instance(InstanceSpec(f"probe-{k}", family.name, sizes, seed + k,
                                          tables="inline",
                                          time_limit=targets.solve_seconds[1])).record
               for k in range(targets.probes)]
    feasible = sum(r.answer_status == "optimal" for r in records) / len(records)
    return Probe(sizes, tuple(r.complexity["score"] for r in records),
                 tuple(r.solve_seconds for r in records), feasible, origin)


def _in_band_stretch(family, targets: Targets, seed: int, probes: list[Probe]):
    """(t_low, t_high): the part of the size path whose median S(PD) is in the band."""
    low, high = targets.complexity
    seeds = range(seed, seed + targets.probes)

    def score(t: float) -> float:
        sizes = family.interpolate(t)
        probe = Probe(sizes, score_sizes(family, sizes, seeds))
        probes.append(probe)
        return probe.score

    first = _first_reaching(score, low)
    last = _first_reaching(score, high, strictly=True)
    last = 1.0 if last is None else last - 1.0 / 2 ** BISECTION_STEPS
    if first is None or first > last:
        return None, None
    return first, last


def _first_reaching(score: Callable[[float], float], level: float, strictly: bool = False):
    """Smallest t in [0, 1] (to 2^-BISECTION_STEPS) with score(t) >= level (> if strictly),
    assuming score grows with t; None if even t = 1 stays below."""
    def reaches(t: float) -> bool:
        value = score(t)
        return value > level if strictly else value >= level

    if reaches(0.0):
        return 0.0
    if not reaches(1.0):
        return None
    lo, hi = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        middle = (lo + hi) / 2
        lo, hi = (lo, middle) if reaches(middle) else (middle, hi)
    return hi


def _probe_stretch(family: Family, targets: Targets, seed: int, low: float, high: float,
                   probes: list[Probe]) -> Tuning:
    """Bisect the in-band stretch on solve probes: slow or infeasible -> simpler half,
    too fast -> harder half, until a probe fits or the sizes stop changing."""
    left, right, tried = 0.0, 1.0, set()
    for _ in range(MAX_SOLVE_PROBES):
        position = (left + right) / 2
        sizes = family.interpolate(low + position * (high - low))
        key = tuple(sorted(sizes.items()))
        if key in tried:
            break
        tried.add(key)
        probe = solve_probe(family, sizes, targets, seed)
        probes.append(probe)
        verdict = probe.verdict(targets)
        if verdict == "fits":
            return Tuning(family.name, sizes, True, "search", probes)
        left, right = (position, right) if verdict == "too fast" else (left, position)
    return _fallback(family, targets, seed, probes)


def _fallback(family: Family, targets: Targets, seed: int, probes: list[Probe]) -> Tuning:
    """No probe fits: keep the most complex setting that solved in time and was feasible
    often enough (else the smallest sizes), and say so."""
    usable = [p for p in probes if p.feasible is not None and
              p.verdict(targets) not in ("too slow", "too often infeasible", "not solved")]
    if not usable:
        usable = [solve_probe(family, family.smallest(), targets, seed)]
        probes.append(usable[0])
    best = max(usable, key=lambda p: p.score)
    return Tuning(family.name, best.sizes, False, "search", probes,
                  f"{family.name}: no size met every target; using {best.sizes} (complexity "
                  f"{best.score:g}, {best.verdict(targets)})")


def _distance(score: float, targets: Targets) -> float:
    low, high = targets.complexity
    return max(low - score, score - high, 0.0)
