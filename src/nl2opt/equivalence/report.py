"""The answer to "are these two formulations equivalent?", with its evidence."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field

Verdict = Literal["equivalent", "not_equivalent", "unknown"]


class Attempt(BaseModel):
    """One candidate map and what verification said about it."""

    origin: str  # name-match, wl-match, fitted, llm
    direction: str  # "B -> A": A's variables as expressions in B's
    complete: bool
    passed: bool
    soundness_checked: int = 0
    coverage_checked: int = 0
    note: str = ""


class EquivalenceReport(BaseModel):
    verdict: Verdict
    reason: str
    a: str
    b: str
    status_a: str = ""
    status_b: str = ""
    objective_a: float | None = None
    objective_b: float | None = None
    method: str = ""  # the origin of the certificate when equivalent
    direction: str = ""
    mapping: dict[str, str] = Field(default_factory=dict)  # the certificate
    counterexample: dict | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    baselines: dict[str, bool | None] = Field(default_factory=dict)
    seconds: float = 0.0

    @property
    def equivalent(self) -> bool:
        return self.verdict == "equivalent"

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)

    def explain(self, limit: int = 20) -> str:
        """A short plain-text account for the terminal."""
        lines = [f"Verdict: {self.verdict.replace('_', ' ')}  ({self.reason})",
                 f"  A = {self.a}: {self.status_a}"
                 + (f", optimum {self.objective_a:.10g}" if self.objective_a is not None
                    else ""),
                 f"  B = {self.b}: {self.status_b}"
                 + (f", optimum {self.objective_b:.10g}" if self.objective_b is not None
                    else "")]
        if self.mapping:
            lines.append(f"Certificate ({self.method}, {self.direction}):")
            items = list(self.mapping.items())
            lines += [f"  {k} = {v}" for k, v in items[:limit]]
            if len(items) > limit:
                lines.append(f"  ... {len(items) - limit} more")
        if self.counterexample:
            c = self.counterexample
            lines.append(f"Counterexample: {c.get('explanation', '')}")
            point = c.get("source_point") or c.get("target_point") or {}
            shown = ", ".join(f"{k}={v:.6g}" for k, v in list(point.items())[:limit])
            if shown:
                lines.append(f"  point: {shown}")
            lines += [f"  - {p}" for p in c.get("problems", [])[:5]]
        if self.attempts:
            lines.append("Attempts: " + "; ".join(
                f"{a.origin} {a.direction}: {'passed' if a.passed else 'failed'}"
                + ("" if a.complete else " (incomplete)") for a in self.attempts))
        if self.baselines:
            lines.append("Baselines: " + ", ".join(
                f"{k}={'n/a' if v is None else ('equivalent' if v else 'different')}"
                for k, v in self.baselines.items()))
        return "\n".join(lines)
