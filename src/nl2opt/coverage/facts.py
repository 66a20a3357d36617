"""Every number a problem statement gives, with its unit and surrounding words.

Digits ("48,000 liters", "$6.5", "20%", "2.5 million", "3/4"), number words
("twenty-five", "a dozen", "twice", "two-thirds", "half") and numbers in
tables all become `Fact`s. A fact is a *label* when it names something
("Table 1.3", "Node 4", "the 8th week", a table's header row or first
column) and *trivial* when its value is 0 or 1 (an implicit coefficient);
neither is ever reported as unused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum

from nl2opt.coverage.text import Layout, layout, sentence_bounds


class FactKind(str, Enum):
    number = "number"
    percent = "percent"
    fraction = "fraction"
    word = "word"


class Role(str, Enum):
    data = "data"
    label = "label"
    trivial = "trivial"


@dataclass(frozen=True)
class Fact:
    """One number of the statement."""

    value: float
    text: str  # as written, e.g. "48,000", "two-thirds", "20%"
    start: int
    end: int
    kind: FactKind
    role: Role
    unit: str  # the words right after it, e.g. "boat trips", "kg / h"; "$" for money
    context: str  # the clause around it, e.g. "at most 12 boat trips"
    scale: float = 1.0  # 1000 for "thousand", 1e6 for "million"
    row_label: str = ""  # for table cells
    column_label: str = ""
    table: int | None = None
    position: tuple[int, int] | None = None  # (row, column) in its table
    sentence: int = 0  # the sentence (or table line) it stands in

    @property
    def values(self) -> tuple[float, ...]:
        """The value as written and, for '2.5 million', scaled."""
        return (self.value,) if self.scale == 1.0 else (self.value, self.value * self.scale)

    def describe(self) -> str:
        """'at most 12 boat trips' (12), for feedback."""
        if self.table is not None:
            where = " / ".join(p for p in (self.row_label, self.column_label) if p)
            return f"the table entry '{where}' ({self.text})"
        return f"'{self.context}' ({self.text})"


_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
          "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
          "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
WORD_VALUES = {word: value for value, word in enumerate(_SMALL)}
WORD_VALUES.update({word: 20 + 10 * k for k, word in enumerate(_TENS)})
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1e6, "billion": 1e9}
_MULTIPLES = {"twice": 2, "thrice": 3, "double": 2, "triple": 3, "quadruple": 4,
              "dozen": 12}
_DENOMINATORS = {"half": 2, "halves": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5,
                 "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}

_WORD = "|".join(sorted([*WORD_VALUES, *_SCALES], key=len, reverse=True))
_WORD_NUMBER = re.compile(rf"\b(?:a\s+)?(?:{_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_WORD}))*\b",
                          re.IGNORECASE)
_FRACTION_WORDS = re.compile(
    r"\b(one|a|two|three|four|five|six|seven|eight|nine)[\s-]+"
    r"(half|halves|thirds?|quarters?|fourths?|fifths?|sixths?|sevenths?|eighths?|ninths?|"
    r"tenths?)\b(\s+of)?", re.IGNORECASE)
_HALF = re.compile(r"(?<!first )(?<!second )(?<!last )(?<!the )\bhalf\b(?![-\s]life)",
                   re.IGNORECASE)
_MULTIPLE = re.compile(r"\b(?:(a|one|two|three|four|five|six|ten)\s+)?"
                       r"(twice|thrice|double|triple|quadruple|dozen)\b", re.IGNORECASE)
_DIGITS = re.compile(
    r"(?<![\w.,/])(?P<currency>[$€£¥]\s?)?"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:/(?P<denominator>\d{1,2})(?![\d/]))?"
    r"(?P<percent>\s?(?:%|percent\b|per\s?cent\b))?"
    r"(?P<scale>\s?(?:thousand|million|billion|mn|bn|k)\b)?")
_HYPHENATED_ADJECTIVE = re.compile(r"-[A-Za-z]")
_PERCENT_AFTER = re.compile(r"\s*(?:%|percent\b|per\s?cent\b)", re.IGNORECASE)
_SCALE_WORDS = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "billion": 1e9,
                "bn": 1e9}
_UNIT = re.compile(r"[ \t]*-?[ \t]*((?:(?:\d+-)?[A-Za-z$€£¥%][\w$/%.-]*|/)(?:[ \t]*(?:/|per|of|an?)?"
                   r"[ \t]*[A-Za-z][\w/.-]*){0,3})")
_UNIT_STOP = re.compile(r"\b(?:and|or|to|for|while|but|if|is|are|was|the|at|in|with|"
                        r"which|that|each|than|from)\b.*", re.IGNORECASE)


def extract_facts(text: str) -> list[Fact]:
    """Every number in `text`, in reading order."""
    structure = layout(text)
    facts: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for finder in (_fraction_facts, _multiple_facts, _word_facts, _digit_facts):
        for fact in finder(structure):
            if not any(s < fact.end and fact.start < e for s, e in taken):
                facts.append(fact)
                taken.append((fact.start, fact.end))
    return sorted(facts, key=lambda f: f.start)


def _make(structure: Layout, value: float, start: int, end: int, kind: FactKind,
          scale: float = 1.0, currency: bool = False) -> Fact:
    text = structure.text
    cell = structure.cell_at(start)
    unit = "$" if currency else _unit_after(text, end)
    left, right = sentence_bounds(text, start, end)
    if value in (0.0, 1.0) and scale == 1.0:
        role = Role.trivial
    elif structure.is_label(start, end) or (cell is not None and cell.is_label):
        role = Role.label
    else:
        role = Role.data
    context = " ".join(text[left:right].replace("\\\\", " ").split())
    fact = Fact(value=value, text=text[start:end].strip(), start=start, end=end, kind=kind,
                role=role, unit=unit, context=context, scale=scale,
                sentence=structure.sentence_of(start))
    if cell is None:
        return fact
    return replace(fact, row_label=cell.row_label.strip(),
                   column_label=cell.column_label.strip(), table=cell.table,
                   position=(cell.row, cell.column))


def _unit_after(text: str, end: int) -> str:
    match = _UNIT.match(text, end, min(len(text), end + 60))
    if not match:
        return ""
    unit = re.split(r"[.,;:](?:\s|$)", match.group(1))[0]
    return " ".join(_UNIT_STOP.sub("", unit).strip(" .-/").split())


def _digit_facts(structure: Layout):
    for match in _DIGITS.finditer(structure.text):
        number = float(match.group("number").replace(",", ""))
        start, end = match.span()
        if match.group("denominator"):
            denominator = float(match.group("denominator"))
            if denominator == 0:
                continue
            yield _make(structure, number / denominator, start, end, FactKind.fraction)
            continue
        if match.group("percent"):
            yield _make(structure, number, start, end, FactKind.percent)
            continue
        scale_word = (match.group("scale") or "").strip().lower()
        yield _make(structure, number, start, end, FactKind.number,
                    scale=_SCALE_WORDS.get(scale_word, 1.0),
                    currency=bool(match.group("currency")))


def _word_facts(structure: Layout):
    for match in _WORD_NUMBER.finditer(structure.text):
        value = parse_number_words(match.group(0))
        start, end = match.span()
        if value is None or _HYPHENATED_ADJECTIVE.match(structure.text, end):
            continue  # "twenty-foot containers" names a kind, not a quantity
        percent = _PERCENT_AFTER.match(structure.text, end)
        if percent:
            yield _make(structure, value, start, percent.end(), FactKind.percent)
        else:
            yield _make(structure, value, start, end, FactKind.word)


def _fraction_facts(structure: Layout):
    for match in _FRACTION_WORDS.finditer(structure.text):
        numerator, denominator, of = match.group(1).lower(), match.group(2).lower(), match.group(3)
        hyphenated = "-" in match.group(0)
        if numerator in ("a", "one") and not (of or hyphenated or denominator.startswith("hal")):
            continue  # "a third machine", "one quarter (three months)": not fractions
        count = 1 if numerator in ("a", "one") else WORD_VALUES[numerator]
        singular = denominator if denominator == "halves" else denominator.rstrip("s")
        value = count / _DENOMINATORS[singular]
        yield _make(structure, value, match.start(), match.end(2), FactKind.fraction)
    for match in _HALF.finditer(structure.text):
        yield _make(structure, 0.5, match.start(), match.end(), FactKind.fraction)


def _multiple_facts(structure: Layout):
    for match in _MULTIPLE.finditer(structure.text):
        count_word, word = (match.group(1) or "").lower(), match.group(2).lower()
        count = WORD_VALUES.get(count_word, 1) if count_word not in ("", "a") else 1
        yield _make(structure, count * _MULTIPLES[word], match.start(), match.end(),
                    FactKind.word)


def parse_number_words(phrase: str) -> float | None:
    """'twenty-five' -> 25, 'two hundred and ten' -> 210, 'a thousand' -> 1000."""
    words = [w for w in re.split(r"[\s-]+", phrase.lower()) if w not in ("and", "")]
    if words and words[0] == "a":
        words = ["one", *words[1:]]
    if not words or words[0] in _SCALES:
        return None
    total, current = 0.0, 0.0
    for word in words:
        if word in WORD_VALUES:
            current += WORD_VALUES[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[word]
            current = 0.0
    return total + current
