"""The LLM-free part of a synthesis run: tune, plan, generate, solve and label.

`generate_instances(out, settings)` tunes each family's sizes (cached in
tuning.json), plans the instances and realises the missing ones in worker
processes, appending each finished instance to instances.jsonl (and its CSV
tables under data/) as it arrives. A killed run resumes with `resume=True`:
finished uids are skipped, and a torn last line is cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from nl2opt.synthesis.families import get_family, select_families
from nl2opt.synthesis.family import SynthesisError
from nl2opt.synthesis.plan import PlanEntry, plan_family, realize
from nl2opt.synthesis.records import INSTANCES_FILE, InstanceRecord, JsonlLog, read_records
from nl2opt.synthesis.store import write_json, write_tables
from nl2opt.synthesis.tuning import Proposer, Targets, Tuning, tune_family
from nl2opt.synthesis.workers import in_processes

SETTINGS_FILE = "synth.json"
TUNING_FILE = "tuning.json"


class RunSettings(BaseModel):
    """What a synthesis run was asked for; the fields in `fixed_keys` must not change
    when it is resumed (families and per_family may grow)."""

    families: list[str]
    per_family: int = Field(ge=1)
    seed: int = 0
    complexity: tuple[float, float] = (50.0, 150.0)
    solve_seconds: tuple[float, float] = (0.0, 30.0)
    feasible_rate: float = 0.9
    infeasible_rate: float = Field(0.0, ge=0, le=1)
    unbounded_rate: float = Field(0.0, ge=0, le=1)
    tables: str = "auto"
    table_threshold: int = 40
    probes: int = 3
    tune: bool = True
    llm_settings: bool = False  # let the LLM propose sizes before the search
    llm: str | None = None
    styles: list[str] = Field(default_factory=list)
    critique_rounds: int = 3
    augment: list[str] = Field(default_factory=list)

    @staticmethod
    def fixed_keys() -> tuple[str, ...]:
        return ("seed", "complexity", "solve_seconds", "feasible_rate", "infeasible_rate",
                "unbounded_rate", "tables", "table_threshold", "tune")

    def targets(self) -> Targets:
        return Targets(tuple(self.complexity), tuple(self.solve_seconds), self.feasible_rate,
                       self.probes)


def open_run(out: Path, settings: RunSettings, resume: bool) -> RunSettings:
    """Create the run folder, or check that `resume` continues a compatible run."""
    path = out / SETTINGS_FILE
    if path.exists() and not resume:
        raise SynthesisError(f"{out} already holds a synthesis run; pass --resume to continue "
                             "it, or choose another --out folder")
    if path.exists():
        before = RunSettings.model_validate_json(path.read_text(encoding="utf-8"))
        changed = [f"{key}: {getattr(before, key)!r} -> {getattr(settings, key)!r}"
                   for key in RunSettings.fixed_keys()
                   if getattr(before, key) != getattr(settings, key)]
        if changed:
            raise SynthesisError("cannot resume: the run was started with other settings ("
                                 + "; ".join(changed) + "). Use the original settings or a "
                                 "new --out folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(path, settings.model_dump(mode="json"))
    except OSError as error:  # a file of that name, a read-only or pseudo folder
        raise SynthesisError(f"{out} cannot be the run folder ({error.strerror or error}); "
                             "give --out a new or existing folder you can write to") from None
    return settings


def tune_all(out: Path, settings: RunSettings, proposer: Proposer | None = None,
             on_tuned: Callable[[Tuning], None] | None = None) -> dict[str, dict]:
    """Tuned sizes per family, from tuning.json or by running the feedback loop."""
    path = out / TUNING_FILE
    tuned = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for name in settings.families:
        if name in tuned:
            continue
        family = get_family(name)
        if settings.tune:
            result = tune_family(family, settings.targets(), settings.seed, proposer)
        else:
            result = Tuning(name, family.smallest(), False, "given", note="tuning disabled")
        tuned[name] = {"sizes": result.sizes, "reached": result.reached,
                       "origin": result.origin, "note": result.note,
                       "probes": len(result.probes)}
        write_json(path, tuned)  # after each family: a kill loses at most one tuning
        if on_tuned is not None:
            on_tuned(result)
    return tuned


def plan_run(settings: RunSettings, tuned: dict[str, dict]) -> list[PlanEntry]:
    entries = []
    band = tuple(settings.complexity) if settings.tune else None
    for name in settings.families:
        entries += plan_family(
            name, settings.per_family, tuned[name]["sizes"], run_seed=settings.seed,
            infeasible_rate=settings.infeasible_rate, unbounded_rate=settings.unbounded_rate,
            tables=settings.tables, table_threshold=settings.table_threshold,  # type: ignore[arg-type]
            time_limit=settings.solve_seconds[1], band=band,
            origin=tuned[name]["origin"] if tuned[name]["reached"] else "closest")
    return entries


def generate_instances(out: str | Path, settings: RunSettings, *, resume: bool = False,
                       workers: int = 1, proposer: Proposer | None = None,
                       on_start: Callable[[int, int], None] | None = None,
                       on_instance: Callable[[InstanceRecord], None] | None = None,
                       on_tuned: Callable[[Tuning], None] | None = None,
                       map_items: Callable | None = None) -> list[InstanceRecord]:
    """Generate every planned instance not yet in instances.jsonl; return all records.
    `map_items` runs `realize` over the plan (Ray tasks: `nl2opt.cluster.tasks`)."""
    out = Path(out)
    select_families(",".join(settings.families))  # unknown names fail before any work
    open_run(out, settings, resume)
    tuned = tune_all(out, settings, proposer, on_tuned)
    done = {r.uid for r in read_records(out / INSTANCES_FILE, InstanceRecord)}
    todo = [e for e in plan_run(settings, tuned) if e.spec.uid not in done]
    if on_start is not None:
        on_start(len(done), len(todo))
    with JsonlLog(out / INSTANCES_FILE) as log:
        for _, generated in (map_items or in_processes)(realize, todo, workers):
            write_tables(out, generated.tables)  # data first: a record never lacks its files
            log.append(generated.record)
            if on_instance is not None:
                on_instance(generated.record)
    return read_records(out / INSTANCES_FILE, InstanceRecord)
