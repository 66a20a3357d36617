"""A problem family: a parameterised, seeded generator of nl2opt formulations.

A `Family` declares its problem class, its size parameters with their ranges,
a generator `build(sizes, rng) -> Formulation` (module-level, so a family can
be sent to worker processes by name), a hand-written natural-language example
of the family and, from the project's renderer, a short math statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.model import Formulation
from nl2opt.synthesis.build import ModelBuilder

Sizes = dict[str, int]
Builder = Callable[[Sizes, np.random.Generator], ModelBuilder]


class SynthesisError(Nl2OptError):
    """Synthesis cannot go on: bad settings, unknown family, unusable output folder."""


@dataclass(frozen=True)
class SizeParam:
    """One size knob of a family, e.g. the number of items, with its allowed range."""

    name: str
    low: int
    high: int
    description: str

    def clip(self, value: float) -> int:
        return int(min(self.high, max(self.low, round(value))))


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    problem_class: ProblemClass
    domain: str
    sizes: tuple[SizeParam, ...]
    build: Builder
    example: str
    # Whether the objective is linear, so a target on it keeps the class (infeasible variants).
    linear_objective: bool = True

    def size_names(self) -> list[str]:
        return [s.name for s in self.sizes]

    def smallest(self) -> Sizes:
        return {s.name: s.low for s in self.sizes}

    def interpolate(self, t: float) -> Sizes:
        """Sizes a fraction t in [0, 1] of the way from the smallest to the largest."""
        return {s.name: s.clip(s.low + t * (s.high - s.low)) for s in self.sizes}

    def check_sizes(self, sizes: Mapping[str, int]) -> Sizes:
        """Complete and range-check sizes; SynthesisError naming the bad one otherwise."""
        unknown = sorted(set(sizes) - set(self.size_names()))
        if unknown:
            raise SynthesisError(f"family {self.name!r} has no size parameter(s) "
                                 f"{', '.join(unknown)}; its sizes are "
                                 f"{', '.join(self.size_names())}")
        checked = self.smallest()
        for param in self.sizes:
            value = int(sizes.get(param.name, param.low))
            if not param.low <= value <= param.high:
                raise SynthesisError(f"family {self.name!r}: {param.name}={value} is outside "
                                     f"its range {param.low}..{param.high}")
            checked[param.name] = value
        return checked

    def generate(self, sizes: Mapping[str, int] | None = None, seed: int = 0) -> Formulation:
        """The formulation for these sizes (default: the smallest) and seed."""
        return self.builder(sizes, seed).formulation()

    def builder(self, sizes: Mapping[str, int] | None = None, seed: int = 0) -> ModelBuilder:
        """The filled model builder (formulation pieces plus the sets' element labels)."""
        return self.build(self.check_sizes(sizes or {}), np.random.default_rng(seed))

    def statement(self) -> str:
        """A short LaTeX statement of the family's model (rendered at the smallest sizes)."""
        return family_statement(self.name)


@cache
def family_statement(name: str) -> str:
    from nl2opt.formulation.render import render_latex
    from nl2opt.synthesis.families import get_family

    return render_latex(get_family(name).generate())
