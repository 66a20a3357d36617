"""The dataset card: README.md with counts per family and class, acceptance figures,
and SVG charts (complexity histogram, acceptance rate per family) under charts/.

Charts are drawn like the evaluation report's (hand-written SVG, no plotting
library, every label escaped), so the card opens anywhere, offline.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from nl2opt.evaluation.html import bar_chart
from nl2opt.synthesis.records import InstanceRecord, ProblemRecord
from nl2opt.synthesis.sft import DATASET_NAME, LLAMA_FACTORY_FILE, SFT_FILE
from nl2opt.synthesis.store import write_text

CARD_FILE = "README.md"
CHARTS = "charts"


def complexity_histogram(scores: list[float], bins: int = 10) -> list[tuple[str, float]]:
    """(label "lo-hi", count) bars over equal-width bins of the scores."""
    if not scores:
        return []
    low, high = math.floor(min(scores)), math.ceil(max(scores))
    width = max(1, math.ceil((high - low + 1) / bins))
    counts = Counter((score - low) // width for score in scores)
    return [(f"{low + k * width:g}-{low + (k + 1) * width:g}", float(counts[k]))
            for k in range(int(max(counts)) + 1)]


def acceptance_by_family(decided: list[ProblemRecord]) -> list[tuple[str, float]]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for record in decided:
        groups[record.family].append(record.acceptance.accepted)
    return [(f"{family} (n={len(flags)})", sum(flags) / len(flags))
            for family, flags in sorted(groups.items())]


def write_card(out: Path, instances: list[InstanceRecord], accepted: list[ProblemRecord],
               rejected: list[ProblemRecord]) -> Path:
    """Write charts/*.svg and README.md; returns the README path."""
    charts = out / CHARTS
    charts.mkdir(exist_ok=True)
    decided = accepted + rejected
    write_text(charts / "complexity.svg", bar_chart(
        "Complexity S(PD) of accepted problems",
        complexity_histogram([r.complexity.get("score", 0.0) for r in accepted])))
    write_text(charts / "acceptance.svg", bar_chart(
        "Acceptance rate by family", acceptance_by_family(decided), 1.0, True))
    text = render_card(instances, accepted, rejected)
    write_text(out / CARD_FILE, text)
    return out / CARD_FILE


def render_card(instances: list[InstanceRecord], accepted: list[ProblemRecord],
                rejected: list[ProblemRecord]) -> str:
    decided = len(accepted) + len(rejected)
    rate = f"{100 * len(accepted) / decided:.1f}%" if decided else "n/a"
    parts = [
        "# Synthetic optimization problems (nl2opt synth)", "",
        (f"{len(accepted)} verified problem/formulation pairs from {len(instances)} generated "
        f"instances; {len(rejected)} pairs rejected (acceptance rate {rate}). Every accepted "
        "text was formulated again by nl2opt's pipeline and the result checked against the "
        "source formulation (rule `equivalence`: `nl2opt.equivalent` found a verified map; "
        "rule `status_and_value`: equivalence was unknown and status and optimal value agree "
        "within 1e-4 relative)."), "",
        "## Files", "",
        "| file | contents |", "| --- | --- |",
        ("| `problems.jsonl` | accepted pairs: `question` (the text), `formulation`, `answer`, "
        "`answer_status`, class, family, complexity, generator settings and seed, acceptance "
        "rule, LLM and prompt hashes |"),
        "| `rejected.jsonl` | rejected pairs with the stage and reason |",
        "| `instances.jsonl` | every generated instance with its label and LaTeX statement |",
        "| `data/<uid>/*.csv` | large tables, referenced by relative path |",
        f"| `{SFT_FILE}` | chat records for supervised fine-tuning (TRL `messages`) |",
        (f"| `{LLAMA_FACTORY_FILE}` | registers `{SFT_FILE}` for LLaMA-Factory as "
        f"`{DATASET_NAME}` |"), "",
        ("Use it as a benchmark: `nl2opt eval problems.jsonl --llm SPEC` (relative CSV paths "
        "resolve against this folder)."), "",
        "## Counts by family", "", *_family_table(instances, accepted, rejected), "",
        "## Counts by problem class", "", *_count_table("class", [r.problem_class for r in
                                                                   accepted]), "",
        "## Acceptance", "", *_count_table("rule", [r.acceptance.rule for r in accepted]), "",
        *_count_table("rejected at", [r.acceptance.stage or "verify" for r in rejected]), "",
        *_count_table("text style", [r.style.get("style", "") for r in accepted]), "",
        f"![Complexity histogram]({CHARTS}/complexity.svg)", "",
        f"![Acceptance by family]({CHARTS}/acceptance.svg)", "",
        "## Provenance", "",
        *_count_table("LLM", [r.llm for r in accepted + rejected]), "",
        *_count_table("prompt", [p for r in accepted for p in r.prompts]), ""]
    return "\n".join(parts)


def _family_table(instances, accepted, rejected) -> list[str]:
    generated = Counter(r.family for r in instances)
    good = Counter(r.family for r in accepted)
    bad = Counter(r.family for r in rejected)
    rows = ["| family | instances | accepted | rejected | median S(PD) |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for family in sorted(generated):
        scores = sorted(r.complexity.get("score", 0.0) for r in instances
                        if r.family == family)
        rows.append(f"| {family} | {generated[family]} | {good[family]} | {bad[family]} | "
                    f"{scores[len(scores) // 2]:g} |")
    return rows


def _count_table(what: str, values: list[str]) -> list[str]:
    counts = Counter(values)
    rows = [f"| {what} | count |", "| --- | ---: |"]
    return rows + [f"| {_cell(key)} | {n} |" for key, n in counts.most_common()]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or "-"
