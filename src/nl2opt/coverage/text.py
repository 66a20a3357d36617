"""The layout of a problem statement: plain text, table cells and label spans.

Benchmark statements mix prose, Markdown tables, LaTeX tables and inline
LaTeX. Fact extraction works on a cleaned copy of the text (LaTeX markup
reduced to words) and needs to know, for every position, whether it is in a
table cell (and which row and column) and whether it names something rather
than states a quantity ("Table 1.3", "Node 4", "the 8th week").
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_LATEX = [
    (re.compile(r"\\(?:mathrm|text|textbf|textit|mathbf|operatorname)\s*\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}"), r"\1/\2"),
    (re.compile(r"_\{([^{}]*)\}"), r"\1"),  # A_{1} -> A1: a name, not a number
    (re.compile(r"_(\w)"), r"\1"),
    (re.compile(r"\\[%$]"), lambda m: m.group(0)[1]),
    (re.compile(r"\\(?:leq|le)\b"), "<="),
    (re.compile(r"\\(?:geq|ge)\b"), ">="),
    (re.compile(r"\\(?:times|cdot)\b"), "*"),
    (re.compile(r"\\(?:hline|quad|qquad|left|right|,|;|!)"), " "),
    (re.compile(r"\\ |~"), " "),
    (re.compile(r"(?<=\d)\s*\^\s*\{?\s*(\d)\s*\}?"), r"^\1"),
]

# Words that, written before a number, make it a name: "Table 1.3", "Node 4".
LABEL_WORDS = frozenset("""
table tables figure fig exhibit section chapter example problem question appendix
node nodes center centre centers centres store stores hub hubs plant plants factory
factories warehouse warehouses depot depots site sites facility facilities city cities
product products item items type types machine machines project projects job jobs task
tasks worker month months week weeks day days year years period periods quarter quarters
shift shifts route routes arc arcs line lines zone zones region regions area areas
customer customers supplier suppliers demonstration option options model models process
processes stage stages phase phases step steps mine mines field fields farm farms shop
shops car truck trucks vehicle vehicles ship ships plane planes team teams room rooms
building buildings location locations point points station stations terminal terminals
port ports candidate candidates package packages plan plans scenario scenarios level
levels grade grades class classes category categories group groups player players
patient patients hospital hospitals school schools course courses exam student students
operator operators employee employees location crop crops field mill mills bus buses
process unit# no no. number# dc market markets center# retailer retailers well wells
""".replace("#", "").split())

# Inline math `$10 \\mathrm{kg}$`, told apart from two prices "$4 and $5" by being short
# and holding no prose.
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]{1,40}?)(?<!\\)\$(?![\w$])")
_DISPLAY_MATH = re.compile(r"\$\$")


def _unwrap_math(match: re.Match) -> str:
    body = match.group(1)
    if re.search(r"\b(?:and|or|for|per|to|each|is)\b|,\s", body):
        return match.group(0)
    return f" {body} "


_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n|&]\s*|[-*]\s+)$")
# "per 100 kg", "Demand/1000 boxes", "unit = 100 kg": the size of a unit, not a quantity.
_UNIT_SIZE = re.compile(r"(?:\bper|/|\bunits?\s*=|\bunits?\s+of|\bin\s+units\s+of)\s*"
                        r"(?:[$€£¥]\s?)?(\d+(?:,\d{3})*)\s*(?:[A-Za-z])", re.IGNORECASE)
_ORDINAL = re.compile(r"\b\d+(?:st|nd|rd|th)\b", re.IGNORECASE)
_ARROW = re.compile(r"\d+\s*(?:→|->|—>|⟶)\s*\d+")
_YEAR = re.compile(r"\b(?:in|year|since|fiscal|of|by|until|before|after)\s+(?:19|20)\d\d\b",
                   re.IGNORECASE)
_TIME_OF_DAY = re.compile(r"\b\d{1,2}:\d{2}\b|\b\d{1,2}\s*(?:a\.?m\.?|p\.?m\.?)(?!\w)",
                          re.IGNORECASE)
_LABELLED = re.compile(r"\b([A-Za-z][A-Za-z.#]*)\s+(\d+(?:[.\-–]\d+)*)\b(?!\s*%)")
_LIST_AFTER_LABEL = re.compile(r"\b([A-Za-z]+)\s+(\d+(?:\s*(?:,|and|or|&)\s*\d+)+)\b")


@dataclass(frozen=True)
class Cell:
    """A table cell: its row and column labels, and whether it is itself a label."""

    row_label: str
    column_label: str
    is_label: bool
    table: int
    row: int
    column: int


@dataclass(frozen=True)
class Layout:
    """The cleaned text, its table cells by span, and the spans that are names."""

    text: str
    cells: tuple[tuple[int, int, Cell], ...]
    labels: tuple[tuple[int, int], ...]
    sentence_ends: tuple[int, ...] = ()

    def sentence_of(self, position: int) -> int:
        """The number of the sentence (or table line) holding `position`."""
        return bisect.bisect_right(self.sentence_ends, position)

    def cell_at(self, position: int) -> Cell | None:
        for start, end, cell in self.cells:
            if start <= position < end:
                return cell
        return None

    def is_label(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self.labels)


def clean(text: str) -> str:
    """The text with LaTeX markup reduced to plain words and symbols."""
    text = _DISPLAY_MATH.sub(" ", text)
    text = _INLINE_MATH.sub(_unwrap_math, text)
    for pattern, replacement in _LATEX:
        text = pattern.sub(replacement, text)
    return text


def layout(text: str) -> Layout:
    cleaned = clean(text)
    ends = tuple(m.end() for m in _SENTENCE_END.finditer(cleaned))
    return Layout(cleaned, tuple(table_cells(cleaned)), tuple(label_spans(cleaned)), ends)


# A line break ends a sentence unless the sentence runs on in lower case (hard-wrapped text).
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n(?![ \t]*[a-z])")


def table_cells(text: str) -> list[tuple[int, int, Cell]]:
    """Cells of Markdown (`| a | b |`) and LaTeX (`a & b \\\\`) tables, with spans."""
    cells = []
    for number, block in enumerate(_table_blocks(text)):
        rows = [row for row in block if not _is_rule(row[2])]
        header = [c.strip() for _, _, c in _split_cells(*rows[0])] if rows else []
        for row_number, (start, _, line) in enumerate(rows):
            parts = _split_cells(start, len(line), line)
            row_label = parts[0][2].strip() if parts else ""
            for column, (cell_start, cell_end, content) in enumerate(parts):
                column_label = header[column] if column < len(header) else ""
                is_label = row_number == 0 or column == 0
                cells.append((cell_start, cell_end, Cell(row_label, column_label, is_label,
                                                         number, row_number, column)))
    return cells


def _table_blocks(text: str) -> list[list[tuple[int, int, str]]]:
    """Runs of consecutive table lines, each line as (start, end, text)."""
    blocks: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    position = 0
    for line in text.split("\n"):
        stripped = line.strip()
        is_row = stripped.startswith("|") or (stripped.count("&") >= 1 and (
            stripped.endswith("\\\\") or "\\\\" in stripped or stripped.count("&") >= 2))
        if is_row and stripped:
            current.append((position, position + len(line), line))
        elif stripped or not current:
            if current:
                blocks.append(current)
            current = []
        position += len(line) + 1
    if current:
        blocks.append(current)
    return [b for b in blocks if len(b) >= 2]


def _is_rule(line: str) -> bool:
    return bool(re.fullmatch(r"[\s|:\-+=]*", line)) or bool(
        re.fullmatch(r"\s*(\|\s*)+", line))


def _split_cells(start: int, _length: int, line: str) -> list[tuple[int, int, str]]:
    separator = "|" if line.strip().startswith("|") else "&"
    body = line.replace("\\\\", "  ")
    cells, cell_start = [], 0
    for position, char in enumerate(body + separator):
        if char == separator:
            if position > cell_start or separator == "&":
                cells.append((start + cell_start, start + position, body[cell_start:position]))
            cell_start = position + 1
    if separator == "|":
        cells = [c for c in cells if c[2].strip() or c is not cells[0]]
        if cells and not cells[0][2].strip():
            cells = cells[1:]
    return cells


def label_spans(text: str) -> list[tuple[int, int]]:
    """Spans of numbers that name things rather than state quantities."""
    spans = [m.span() for m in _ORDINAL.finditer(text)]
    spans += [m.span() for m in _ARROW.finditer(text)]
    spans += [m.span() for m in _YEAR.finditer(text)]
    spans += [m.span() for m in _TIME_OF_DAY.finditer(text)]
    spans += [m.span(1) for m in _UNIT_SIZE.finditer(text)]
    numbered = _numbered_words(text)
    for match in _LABELLED.finditer(text):
        if match.group(1).lower() in numbered or \
                _names_a_thing(text, match.start(1), match.group(1)):
            spans.append(match.span(2))
    for match in _LIST_AFTER_LABEL.finditer(text):
        word = match.group(1).lower()  # plural, "Stores 4, 5 and 6", not "product 1, 10 kg"
        if word.endswith("s") and word in LABEL_WORDS:
            spans.append(match.span(2))
    return spans


def _numbered_words(text: str) -> set[str]:
    """Words the text numbers 1, 2, ...: 'beam 1 ... beam 2', 'chemical 1 and chemical 2'
    (not verbs and small words: 'needs 1 oven hour ... needs 2 oven hours')."""
    seen: dict[str, set[str]] = {}
    for match in _LABELLED.finditer(text):
        word = match.group(1).lower()
        if len(word) > 2 and word not in _NOT_NAMES:
            seen.setdefault(word, set()).add(match.group(2))
    return {word for word, numbers in seen.items() if {"1", "2"} <= numbers}


_NOT_NAMES = frozenset([
    "the", "and", "for", "with", "from", "than", "that", "this", "each", "every", "only",
    "about", "exactly", "least", "most", "over", "under", "into", "onto", "per", "are",
    "was", "were", "has", "have", "had", "can", "could", "will", "would", "must",
    "should", "may", "might", "need", "needs", "needed", "require", "requires",
    "required", "take", "takes", "took", "use", "uses", "used", "make", "makes", "made",
    "produce", "produces", "produced", "contain", "contains", "contained", "hold",
    "holds", "give", "gives", "provide", "provides", "offer", "offers", "deliver",
    "delivers", "carry", "carries", "earn", "earns", "cost", "costs", "sell", "sells",
    "buy", "buys", "yield", "yields", "generate", "generates", "consume", "consumes",
    "get", "gets", "bring", "brings", "allow", "allows"
])


def _names_a_thing(text: str, start: int, word: str) -> bool:
    """'Node 4', 'demonstration 2': a label word, or a capitalised word mid-sentence."""
    if word.lower().rstrip(".") in LABEL_WORDS:
        return True
    return word[0].isupper() and not _SENTENCE_START.search(text[max(0, start - 3):start])


_DANGLING = frozenset(["and", "or", "the", "to", "per", "of", "a", "an", "with", "for", "at",
                       "in", "on", "by", "from", "than", "as", "is", "are"])


_JOINTS = frozenset(["and", "or", "but", "while", "whereas"])


def sentence_bounds(text: str, start: int, end: int, before: int = 6,
                    after: int = 4) -> tuple[int, int]:
    """The words around a span inside its clause: at most `before` words before it and
    `after` words after it ('at most 12 boat trips')."""
    head = text[max(0, start - 120):start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(head)), default=0)
    head_words = list(re.finditer(r"\S+", head[cut:]))[-before:]
    joints = [k for k, word in enumerate(head_words[:-2]) if word.group(0).lower() in _JOINTS]
    if joints:  # "..., while motorboats take 3 minutes": start after the last joint
        head_words = head_words[joints[-1] + 1:]
    left = start - len(head) + cut + (head_words[0].start() if head_words else len(head) - cut)
    tail = text[end:end + 80]
    stop = _CLAUSE_END.search(tail)
    tail = tail[:stop.start()] if stop else tail
    tail_words = []
    for word in list(re.finditer(r"\S+", tail))[:after]:
        if word.group(0).lower() in _JOINTS:
            break
        tail_words.append(word)
    while tail_words and tail_words[-1].group(0).lower() in _DANGLING:
        tail_words.pop()
    right = end + (tail_words[-1].end() if tail_words else 0)
    return left, right


_CLAUSE_END = re.compile(r"[.;!?|&(){}]\s|[;!?|&(){}]|\n(?![ \t]*[a-z])|,(?!\d)|\.$|:\s")
