"""Derived outputs of a run, rewritten from the append-only records at the end (and
when a batch run stops to wait): the SFT export and the dataset card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nl2opt.synthesis.card import write_card
from nl2opt.synthesis.records import (
    INSTANCES_FILE,
    PROBLEMS_FILE,
    REJECTED_FILE,
    InstanceRecord,
    ProblemRecord,
    read_records,
)
from nl2opt.synthesis.sft import write_sft


@dataclass(frozen=True)
class Written:
    instances: int
    accepted: int
    rejected: int
    sft: Path
    card: Path

    def summary(self) -> str:
        decided = self.accepted + self.rejected
        rate = f"{100 * self.accepted / decided:.0f}%" if decided else "n/a"
        return (f"{self.instances} instances, {self.accepted} accepted and {self.rejected} "
                f"rejected pairs (acceptance {rate}); wrote {self.sft.name} and "
                f"{self.card.name}")


def write_outputs(out: str | Path) -> Written:
    out = Path(out)
    instances = read_records(out / INSTANCES_FILE, InstanceRecord)
    accepted = read_records(out / PROBLEMS_FILE, ProblemRecord)
    rejected = read_records(out / REJECTED_FILE, ProblemRecord)
    sft = write_sft(out, accepted)
    card = write_card(out, instances, accepted, rejected)
    return Written(len(instances), len(accepted), len(rejected), sft, card)
