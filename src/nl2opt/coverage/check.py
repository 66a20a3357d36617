"""Match the statement's facts to the formulation's numbers.

A fact is *used* when its value appears among the model's numbers, allowing
the usual transformations: a percentage as a fraction (20% -> 0.2, or 0.8
and 1.2 for "20% less/more"), a unit conversion where the fact's unit names
a time, mass, volume or length (per hour -> per minute is /60), a total that
is the sum of listed values (in the text or in a parameter), and a number
the model derived from two facts (profit 3 = price 9 - cost 6). Facts that
the assumptions mention are taken as deliberately handled. What remains is
*unused*; parameter values that no fact explains are *invented*.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from nl2opt.coverage.facts import Fact, FactKind, Role, extract_facts
from nl2opt.coverage.numbers import ModelNumber, Source, model_numbers
from nl2opt.formulation.model import Formulation

_FAMILIES = {
    "time": (re.compile(r"\b(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|h|days?|weeks?|"
                        r"months?|years?|annual(?:ly)?|daily|weekly|monthly|yearly|hourly)\b",
                        re.IGNORECASE), (60, 24, 7, 12, 52, 365, 3600, 30)),
    "measure": (re.compile(r"\b(?:g|grams?|kg|kilograms?|tons?|tonnes?|ml|millilit(?:er|re)s?|"
                           r"l|lit(?:er|re)s?|m|meters?|metres?|km|kilomet(?:er|re)s?|cm|mm)\b",
                           re.IGNORECASE), (1000, 100)),
}
_DURATION = re.compile(r"\b(?:hours?|hrs?|h|minutes?|mins?|seconds?|secs?)\b", re.IGNORECASE)
_SMALL_COUNT = 12  # derived numbers up to this are too often equal by chance
_RUN_WINDOW = 12  # a total is the sum of at most this many neighbouring facts


@dataclass
class Coverage:
    """Which facts of the statement the model uses, and which it does not."""

    facts: list[Fact]
    used: dict[int, str] = field(default_factory=dict)  # fact position -> how it is used
    unused: list[Fact] = field(default_factory=list)
    invented: list[ModelNumber] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def data_facts(self) -> list[Fact]:
        return [f for f in self.facts if f.role is Role.data]

    @property
    def complete(self) -> bool:
        return not self.unused


def check_coverage(text: str, formulation: Formulation) -> Coverage:
    """Match the numbers of `text` to those of `formulation` (no LLM, no solver)."""
    started = time.perf_counter()
    coverage = check_numbers(text, model_numbers(formulation), formulation.assumptions)
    coverage.seconds = time.perf_counter() - started
    return coverage


def check_numbers(text: str, numbers: list[ModelNumber], assumptions: list[str]) -> Coverage:
    """Match the numbers of `text` to a model's numbers (however they were collected)."""
    facts = extract_facts(text)
    coverage = Coverage(facts)
    data_pool = _Pool([n for n in numbers if n.source is not Source.structure])
    structure_pool = _Pool([n for n in numbers if n.source is Source.structure])
    acknowledged = {round(f.value, 9) for f in extract_facts(" ".join(assumptions))}
    data = [k for k, f in enumerate(facts) if f.role is Role.data]
    for k in data:
        fact = facts[k]
        how = _direct(fact, data_pool) or (_direct(fact, structure_pool) if _is_count(fact)
                                            else "")
        if not how and round(fact.value, 9) in acknowledged:
            how = "mentioned in the assumptions"
        if how:
            coverage.used[k] = how
    _cover_totals(facts, data, coverage)
    _cover_pairs(facts, data, _underived(facts, numbers), coverage)
    coverage.unused = [facts[k] for k in data if k not in coverage.used]
    coverage.invented = _invented(facts, numbers, acknowledged, assumptions)
    return coverage


def _underived(facts: list[Fact], numbers: list[ModelNumber]) -> _Pool:
    """Model numbers (above a dozen) that equal no fact directly: the ones a model may have
    derived from two facts."""
    pool = [n for n in numbers if n.value > _SMALL_COUNT and n.source in (
        Source.parameter, Source.literal, Source.bound)]
    stated = _Pool([ModelNumber(c.value, "", Source.literal) for f in facts
                    for c in candidates(f)])
    hits = stated.find(np.array([n.value for n in pool]))
    return _Pool([n for n, hit in zip(pool, hits) if hit < 0])


def _is_count(fact: Fact) -> bool:
    """'three plants', 'six months': a count of things, which a set size may encode
    (unlike '2 oven hours' or '5 kg')."""
    if fact.kind not in (FactKind.number, FactKind.word) or fact.table is not None:
        return False
    if not float(fact.value).is_integer() or fact.unit in ("", "$"):
        return False
    noun = re.sub(r"\b\d+-\w+", "", fact.unit)  # "4-hour periods" counts periods
    return not (_DURATION.search(noun) or _FAMILIES["measure"][0].search(noun))


def _partners(facts: list[Fact], data: list[int], k: int) -> list[int]:
    """Facts a derived number may combine with fact k: same sentence, table row or column."""
    fact = facts[k]
    if fact.table is None or fact.position is None:
        return [j for j in data if j != k and facts[j].sentence == fact.sentence]
    row, column = fact.position
    return [j for j in data if j != k and facts[j].table == fact.table and facts[j].position
            and (facts[j].position[0] == row or facts[j].position[1] == column)]


@dataclass(frozen=True)
class Candidate:
    """A value a model may use for a fact; a unit conversion counts only where the
    model's own words name a unit of the same family (`family`)."""

    value: float
    how: str = ""
    family: str = ""


def candidates(fact: Fact) -> list[Candidate]:
    """The values a model may use for a fact, with how each is derived."""
    found = [Candidate(v) for v in fact.values]
    value = fact.value
    if fact.kind is FactKind.percent:
        found += _share_candidates(value / 100) + [
            Candidate(value / 100, "as a fraction"),
            Candidate(1 + value / 100, "as 1 plus the share")]
    elif fact.kind is FactKind.fraction:
        found += _share_candidates(value)
    elif 0 < value < 1:
        found.append(Candidate(value * 100, "as a percentage"))
    words = f"{fact.unit} {fact.row_label} {fact.column_label}"
    for family, (pattern, factors) in _FAMILIES.items():
        if pattern.search(words):
            for factor in factors:
                found += [Candidate(value * factor, f"times {factor}", family),
                          Candidate(value / factor, f"/ {factor}", family)]
    return found


def _share_candidates(share: float) -> list[Candidate]:
    """x >= 30% of (x + y) is also (1 - 0.3) x >= 0.3 y, or x >= (3/7) y."""
    found = [Candidate(1 - share, "as 1 minus the share")]
    if 0 < share < 1:
        found += [Candidate(share / (1 - share), "as the ratio share / rest"),
                  Candidate((1 - share) / share, "as the ratio rest / share")]
    return found


class _Pool:
    """The model's numbers, sorted for tolerant look-ups."""

    def __init__(self, numbers: list[ModelNumber]) -> None:
        numbers = [n for n in numbers if abs(n.value) > 1e-12]  # zero matches nothing
        values = np.array([n.value for n in numbers], dtype=float)
        self.order = np.argsort(values, kind="stable")
        self.sorted = values[self.order]
        self.numbers = numbers

    def find_all(self, value: float) -> list[int]:
        """Indices of every model number equal to `value` (relative 1e-6)."""
        value = abs(value)
        tolerance = 1e-6 * max(1.0, value)
        low = np.searchsorted(self.sorted, value - tolerance, side="left")
        high = np.searchsorted(self.sorted, value + tolerance, side="right")
        return [int(self.order[k]) for k in range(low, high)]

    def find(self, wanted: np.ndarray) -> np.ndarray:
        """For each wanted value, the index of a matching model number, or -1."""
        wanted = np.abs(np.asarray(wanted, dtype=float))
        tolerance = 1e-6 * np.maximum(1.0, wanted)
        low = np.searchsorted(self.sorted, wanted - tolerance, side="left")
        high = np.searchsorted(self.sorted, wanted + tolerance, side="right")
        hit = high > low
        positions = np.where(hit, np.minimum(low, len(self.sorted) - 1), 0)
        return np.where(hit, self.order[positions] if len(self.order) else -1, -1)


def _direct(fact: Fact, pool: _Pool) -> str:
    options = candidates(fact)
    options += [Candidate(r, c.how, c.family) for c in options for r in _roundings(c.value)]
    for option in options:
        for index in pool.find_all(option.value):
            number = pool.numbers[index]
            if option.family and not _FAMILIES[option.family][0].search(number.words):
                continue
            return number.where + (f" ({option.how})" if option.how else "")
    return ""


def _roundings(value: float) -> list[float]:
    """A model may round a fraction: 2/3 as 0.67 or 0.667 (within 1%)."""
    if not 0 < abs(value) < 1:
        return []
    return [r for r in (round(value, d) for d in (2, 3, 4))
            if r != value and r != 0 and abs(r - value) <= 0.01 * abs(value)]


def _cover_totals(facts: list[Fact], data: list[int], coverage: Coverage) -> None:
    """A fact equal to the sum of neighbouring facts of its sentence (or of its table row
    or column) restates them: 'Store 4 needs 8 pallets (A:3, B:2, C:3)'."""
    for k in data:
        if k in coverage.used:
            continue
        same = [j for j in data if facts[j].sentence == facts[k].sentence]
        after = [facts[j].value for j in same if j > k]
        before = [facts[j].value for j in reversed(same) if j < k]
        if _is_run_sum(facts[k].value, after) or _is_run_sum(facts[k].value, before) or \
                _is_table_total(facts, k):
            coverage.used[k] = "the total of the values listed with it"
        elif _is_product(facts[k].value, [facts[j].value for j in same if j != k]):
            coverage.used[k] = "the product of two numbers stated with it"


def _is_product(value: float, others: list[float]) -> bool:
    """'a 24-hour day in six 4-hour periods': 24 restates 6 x 4."""
    return any(math.isclose(a * b, value, rel_tol=1e-9)
               for i, a in enumerate(others) for b in others[i + 1:])


def _is_run_sum(value: float, run: list[float]) -> bool:
    total = 0.0
    for count, item in enumerate(run[:_RUN_WINDOW], start=1):
        total += item
        if count >= 2 and math.isclose(total, value, rel_tol=1e-6):
            return True
    return False


def _is_table_total(facts: list[Fact], k: int) -> bool:
    fact = facts[k]
    if fact.table is None or fact.position is None:
        return False
    row, column = fact.position
    same_column = [f.value for f in facts if f.table == fact.table and f.position
                   and f.position[1] == column and f.position[0] != row and f.role is Role.data]
    same_row = [f.value for f in facts if f.table == fact.table and f.position
                and f.position[0] == row and f.position[1] != column and f.role is Role.data]
    return any(len(group) >= 2 and math.isclose(sum(group), fact.value, rel_tol=1e-6)
               for group in (same_column, same_row))


def _pair_values(value: float, others: np.ndarray, lenient: bool = True) -> np.ndarray:
    """Numbers made of `value` and each of `others`: differences and products (profit =
    price - cost, kg = hours x kg/h) and, when `lenient`, sums and ratios too."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        parts = [np.abs(value - others), value * others]
        if lenient:
            parts += [value + others, value / others, others / value]
        combined = np.concatenate(parts)
    return np.where(np.isfinite(combined), combined, -1.0)


def _plain_values(fact: Fact) -> tuple[float, ...]:
    """The values a fact enters a calculation with: as written, or a share for a percent."""
    return fact.values + ((fact.value / 100,) if fact.kind is FactKind.percent else ())


def _cover_pairs(facts: list[Fact], data: list[int], pool: _Pool, coverage: Coverage) -> None:
    """A model number derived from two facts of one sentence (or table row or column)
    uses both: profit 3 = price 9 - cost 6."""
    for k in data:
        if k in coverage.used:
            continue
        partners = _partners(facts, data, k)
        if not partners:
            continue
        values = np.array([facts[j].value for j in partners], dtype=float)
        for value in _plain_values(facts[k]):
            hits = pool.find(_pair_values(value, values, lenient=False))
            found = np.flatnonzero(hits >= 0)
            if found.size:
                partner = partners[found[0] % len(partners)]
                where = pool.numbers[hits[found[0]]].where
                coverage.used[k] = f"combined with {facts[partner].text} in {where}"
                coverage.used.setdefault(partner, f"combined with {facts[k].text} in {where}")
                break


def _invented(facts: list[Fact], numbers: list[ModelNumber], acknowledged: set[float],
              assumptions: list[str]) -> list[ModelNumber]:
    """Parameter values and numeric bounds that no fact of the text explains."""
    stated = " ".join(assumptions).lower().replace("_", " ")
    suspects = [n for n in numbers if n.source in (Source.parameter, Source.bound)
                and not _structural_value(n.value) and round(n.value, 9) not in acknowledged
                and not (n.parameter and n.parameter.lower().replace("_", " ") in stated)]
    if not suspects:
        return []
    explained = [c.value for f in facts for c in candidates(f)]
    data = [k for k, f in enumerate(facts) if f.role is Role.data]
    for k in data:
        partners = _partners(facts, data, k)
        if partners:
            values = np.array([facts[j].value for j in partners], dtype=float)
            explained += [x for v in _plain_values(facts[k])
                          for x in _pair_values(v, values).tolist()]
    explained += _run_sums(facts, data)
    pool = _Pool([ModelNumber(v, "", Source.literal) for v in explained])
    hits = pool.find(np.array([n.value for n in suspects]))
    rounded = {r for v in explained for r in _roundings(v)}
    return [n for n, hit in zip(suspects, hits) if hit < 0 and n.value not in rounded]


def _run_sums(facts: list[Fact], data: list[int]) -> list[float]:
    """Sums of runs of neighbouring facts within one sentence."""
    sums = []
    for position, k in enumerate(data):
        total = facts[k].value
        for j in data[position + 1:position + _RUN_WINDOW]:
            if facts[j].sentence != facts[k].sentence:
                break
            total += facts[j].value
            sums.append(total)
    return sums


def _structural_value(value: float) -> bool:
    """0, 1 and big-M constants (1e4, 99999, 1e6 ...) are modelling devices, not data."""
    if value in (0.0, 1.0):
        return True
    if value >= 1e4:
        exponent = math.log10(value)
        return abs(exponent - round(exponent)) < 1e-9 or \
            abs(math.log10(value + 1) - round(math.log10(value + 1))) < 1e-9
    return False
