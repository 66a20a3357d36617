"""Throughput of the LLM-free side of `nl2opt synth`, against OptMATH's per-instance way.

nl2opt: for each instance, in worker processes (2 by default), one pure call
generates the family's formulation, classifies, compiles and solves it, scores
S(PD), then checks a "recovered" formulation by `nl2opt.equivalent` (the source
with every variable renamed, so the checker has to find the map by structure, as
it must for an LLM's formulation).

OptMATH's way (their instance pipeline labels each generated instance by running a
generated solver script): for each instance, generate the same formulation, write a
model script (nl2opt's own emitted Pyomo code, the most favourable stand-in for a
generated gurobipy script) that writes the LP file and solves it, and run it in a
fresh Python subprocess, 2 at a time.

Both sides use the linear families (LP and MILP) at their smallest-plus sizes so the
solver time does not hide the overhead being measured. Prints the figures and ends
with one machine-readable line:

    instances_per_s=<x> speedup_vs_subprocess=<y>

    python bench/synth_throughput.py [--per-family 10] [--workers 2] [--baseline 40]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SIZE_FRACTION = 0.05  # a little above each family's smallest sizes


def linear_entries(per_family: int):
    from nl2opt.formulation.classify import ProblemClass
    from nl2opt.synthesis.families import FAMILIES
    from nl2opt.synthesis.plan import plan_family

    entries = []
    for family in FAMILIES:
        if family.problem_class in (ProblemClass.LP, ProblemClass.MILP):
            entries += plan_family(family.name, per_family,
                                   family.interpolate(SIZE_FRACTION), tables="inline")
    return entries


def renamed(formulation: dict) -> dict:
    """The formulation with every decision variable renamed (v_<name>)."""
    import json

    names = [v["name"] for v in formulation["variables"]]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b(?=\s*\[|\b)")
    text = json.dumps(formulation)
    for field in ('"expression": "', '"where": "', '"lower": "', '"upper": "', '"name": "'):
        text = re.sub(re.escape(field) + r'([^"]*)"',
                      lambda m, f=field: f + pattern.sub(r"v_\1", m.group(1)) + '"', text)
    return json.loads(text)


def label_and_verify(entry) -> tuple[str, str, float | None, str]:
    """The per-instance work of a synthesis run without its LLM (a pure function)."""
    from nl2opt.synthesis.instance import make_instance
    from nl2opt.synthesis.verify import VerifyJob, verify_pair

    record = make_instance(entry.spec).record
    job = VerifyJob(record.uid, record.formulation, renamed(record.formulation), ".",
                    record.answer_status, record.answer, record.answer_status, record.answer)
    return record.uid, record.answer_status, record.answer, verify_pair(job).rule


def label_only(entry) -> str:
    """The same without the equivalence check (to show where the time goes)."""
    from nl2opt.synthesis.instance import make_instance

    return make_instance(entry.spec).record.answer_status


def measure_ours(entries, workers: int, function=label_and_verify) -> tuple[float, list]:
    from nl2opt.synthesis.workers import in_processes

    started = time.perf_counter()
    results = [result for _, result in in_processes(function, entries, workers)]
    return time.perf_counter() - started, results


def baseline_one(entry, folder: Path) -> float | None:
    """Write the generated model script (it writes the LP file and solves), run it in a
    subprocess, read the objective from its output."""
    from nl2opt.solvers.pyomo_code import emit_pyomo_script
    from nl2opt.synthesis.families import get_family

    formulation = get_family(entry.spec.family).generate(entry.spec.sizes, entry.spec.seed)
    script = emit_pyomo_script(formulation)
    model = re.search(r"^(\w+) = pyo\.ConcreteModel", script, re.MULTILINE).group(1)
    script = script.replace('if __name__ == "__main__":\n', 'if __name__ == "__main__":\n'
                            f'    {model}.write("model.lp", io_options={{"symbolic_solver_'
                            'labels": True})\n', 1)
    work = folder / entry.spec.uid
    work.mkdir()
    (work / "model.py").write_text(script)
    done = subprocess.run([sys.executable, "model.py"], cwd=work, capture_output=True, check=False,
                          text=True, timeout=300)
    found = re.search(r"^OBJECTIVE = (\S+)$", done.stdout, re.MULTILINE)
    return float(found.group(1)) if found else None


def measure_baseline(entries, workers: int) -> tuple[float, list]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            objectives = list(pool.map(lambda e: baseline_one(e, Path(folder)), entries))
        return time.perf_counter() - started, objectives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=40,
                        help="instances labelled the subprocess way (a spread sample)")
    args = parser.parse_args()
    entries = linear_entries(args.per_family)
    seconds, results = measure_ours(entries, args.workers)
    rate = len(results) / seconds
    rules = {rule: sum(r[3] == rule for r in results) for rule in {r[3] for r in results}}
    print(f"nl2opt: {len(results)} instances of {len({e.spec.family for e in entries})} "
          f"linear families in {seconds:.1f} s with {args.workers} workers = {rate:.1f} "
          f"instances/s (generate, classify, compile, solve, S(PD), equivalence check of a "
          f"renamed copy); acceptance rules: {rules}")
    sample = entries[::max(1, len(entries) // args.baseline)][:args.baseline]
    base_seconds, objectives = measure_baseline(sample, args.workers)
    base_rate = len(sample) / base_seconds
    ours = {r[0]: r[2] for r in results}
    disagree = sum(1 for e, o in zip(sample, objectives)
                   if o is None or ours[e.spec.uid] is None or
                   abs(o - ours[e.spec.uid]) > 1e-6 * max(1.0, abs(o)))
    print(f"subprocess way: {len(sample)} instances in {base_seconds:.1f} s, {args.workers} at "
          f"a time = {base_rate:.2f} instances/s; labels differing from nl2opt's: {disagree}")
    speedup = rate / base_rate
    print(f"nl2opt is {speedup:.1f}x the subprocess way (target: 20x) -> "
          f"{'met' if speedup >= 20 else 'NOT met'}")
    plain_seconds, _ = measure_ours(entries, args.workers, label_only)
    plain_rate = len(entries) / plain_seconds
    print(f"without the equivalence check (generate, classify, compile, solve, S(PD) only): "
          f"{plain_rate:.1f} instances/s = {plain_rate / base_rate:.1f}x the subprocess way")
    print(f"instances_per_s={rate:.1f} speedup_vs_subprocess={speedup:.1f}")


if __name__ == "__main__":
    main()
