"""Throughput of the LLM-free side of `nl2opt synth`, against OptMATH's per-instance way.

nl2opt: for each instance, in worker processes (2 by default), one pure call
generates the family's formulation, classifies, compiles and solves it, scores
S(PD), then verifies a "recovered" formulation as a synthesis run does (the source
with every variable renamed, so names cannot help: the isomorphism test matches it
by structure without a solve). Two more passes show where the time goes: without
the verification, and with recovered models whose objective is stated in other
units (equivalent but not identical, so `nl2opt.equivalent` runs its solves).

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
import json
import re
import resource
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


def objective_in_thousands(formulation: dict) -> dict:
    """The same model with its objective stated in thousands (divided by 1000): the
    same optima, but not the same model, so `nl2opt.equivalent` runs its solves. (The
    optimal value changes, so a synthesis run would then reject the pair: its label is
    stated in the original units.)"""
    changed = json.loads(json.dumps(formulation))
    changed["objective"]["expression"] = f"({changed['objective']['expression']}) / 1000"
    return changed


def label_and_verify(entry, hard: bool = False) -> tuple[str, str, float | None, str, float]:
    """The per-instance work of a synthesis run without its LLM (a pure function).
    The recovered formulation is the source with its variables renamed (`hard`: and
    its objective in other units, so the equivalence checker must run)."""
    from nl2opt.synthesis.augment import rename_variables
    from nl2opt.synthesis.instance import make_instance
    from nl2opt.synthesis.verify import VerifyJob, verify_pair

    started = time.process_time()
    record = make_instance(entry.spec).record
    recovered = rename_variables(record.formulation)
    recovered = objective_in_thousands(recovered) if hard else recovered
    job = VerifyJob(record.uid, record.formulation, recovered, ".", record.answer_status,
                    record.answer, record.answer_status, record.answer)
    outcome = verify_pair(job)
    return (record.uid, record.answer_status, record.answer,
            outcome.equivalence if hard else outcome.rule, time.process_time() - started)


def label_and_verify_hard(entry) -> tuple[str, str, float | None, str, float]:
    return label_and_verify(entry, hard=True)


def label_only(entry) -> str:
    """The same without the equivalence check (to show where the time goes)."""
    from nl2opt.synthesis.instance import make_instance

    return make_instance(entry.spec).record.answer_status


def cpu_seconds() -> float:
    """CPU time of this process and its finished child processes (the subprocesses;
    pool workers are children of the forkserver and time themselves)."""
    own, children = (resource.getrusage(resource.RUSAGE_SELF),
                     resource.getrusage(resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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
    ours_cpu = sum(r[4] for r in results) / len(results)
    rate = len(results) / seconds
    rules = {rule: sum(r[3] == rule for r in results) for rule in {r[3] for r in results}}
    print(f"nl2opt: {len(results)} instances of {len({e.spec.family for e in entries})} "
          f"linear families in {seconds:.1f} s with {args.workers} workers = {rate:.1f} "
          f"instances/s (generate, classify, compile, solve, S(PD), equivalence check of a "
          f"renamed copy); acceptance rules: {rules}")
    sample = entries[::max(1, len(entries) // args.baseline)][:args.baseline]
    cpu = cpu_seconds()
    base_seconds, objectives = measure_baseline(sample, args.workers)
    base_cpu = (cpu_seconds() - cpu) / len(sample)
    base_rate = len(sample) / base_seconds
    ours = {r[0]: r[2] for r in results}
    disagree = sum(1 for e, o in zip(sample, objectives)
                   if o is None or ours[e.spec.uid] is None or
                   abs(o - ours[e.spec.uid]) > 1e-6 * max(1.0, abs(o)))
    print(f"subprocess way: {len(sample)} instances in {base_seconds:.1f} s, {args.workers} at "
          f"a time = {base_rate:.2f} instances/s; labels differing from nl2opt's: {disagree}")
    speedup = rate / base_rate
    print(f"nl2opt is {speedup:.1f}x the subprocess way (target: 20x) -> "
          f"{'met' if speedup >= 20 else 'NOT met'}; CPU seconds per instance "
          f"{ours_cpu:.3f} vs {base_cpu:.3f} = {base_cpu / ours_cpu:.1f}x (less sensitive "
          "to other load on the machine)")
    plain_seconds, _ = measure_ours(entries, args.workers, label_only)
    plain_rate = len(entries) / plain_seconds
    print(f"without the equivalence check (generate, classify, compile, solve, S(PD) only): "
          f"{plain_rate:.1f} instances/s = {plain_rate / base_rate:.1f}x the subprocess way")
    hard_seconds, hard = measure_ours(entries, args.workers, label_and_verify_hard)
    hard_rate = len(entries) / hard_seconds
    verdicts = {rule: sum(r[3] == rule for r in hard) for rule in {r[3] for r in hard}}
    print(f"with recovered models that are equivalent but not identical (objective in "
          f"thousands; the checker solves): {hard_rate:.1f} instances/s = "
          f"{hard_rate / base_rate:.1f}x the subprocess way; checker verdicts: {verdicts}")
    print(f"instances_per_s={rate:.1f} speedup_vs_subprocess={speedup:.1f}")


if __name__ == "__main__":
    main()
