"""Accuracy of equivalence checking: LLM-free mapping vs two baselines (no LLM).

    python bench/equivalence.py [--suite generated|dropped|kept|formulationbench|all] [--data DIR]

(a) generated: every examples/*.json through every transformation of
    nl2opt.equivalence.transforms (labelled equivalent / not equivalent);
(b) dropped: hard negatives, each synthesis family's default instance against itself
    with all its constraints, or one constraint family, dropped (kept where that
    changes the optimal value or status);
(b') kept: the same with one constraint family dropped where the optimum does *not*
    change; equivalent iff the dropped rows are redundant (an exact row-by-row check),
    else a cut far from every optimum that only the feasible regions show;
(c) formulationbench: the FormulationBench pairs staged at DATA (default
    /work/shared/datasets/equivaformulation/formulationbench_substitute). Its
    formulations carry gurobipy snippets; each is assembled into a script, run in
    the sandbox (gurobipy must be installed) and exported as MPS. Formulations whose
    parameters are not in the problem's data (renamed or derived parameters; the
    parameter maps are not staged) cannot be instantiated and are skipped, counted.

Methods: mapping = nl2opt.equivalence.equivalent (verdict "equivalent"); optimal
value = same optimal value; WL = equal 1-WL colour histograms. Precision and recall
are on the "equivalent" class; "unknown" counts as not equivalent.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from collections import defaultdict

import numpy as np

from nl2opt.equivalence import equivalent, generate_variants
from nl2opt.equivalence.instance import from_formulation
from nl2opt.equivalence.scripts import instance_from_script
from nl2opt.equivalence.solving import solve
from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import load_formulation

DEFAULT_DATA = "/work/shared/datasets/equivaformulation/formulationbench_substitute"
METHODS = ("mapping", "optimal_value", "wl_graph")
BUDGET_SECONDS = 60.0  # all solves of one pair; past it the answer is "unknown"


def generated_cases(root: str):
    """(case label, transform, label, a, b) over all examples, plus skip reasons."""
    cases, skipped = [], []
    for path in sorted(glob.glob(os.path.join(root, "examples", "*.json"))):
        name = os.path.basename(path)
        if name == "expected.json":
            continue
        formulation = load_formulation(path)
        try:
            base = solve(from_formulation(formulation))
        except Nl2OptError as exc:
            skipped.append((name, f"not an LP/MILP/QP instance ({type(exc).__name__})"))
            continue
        if base.status not in ("optimal", "infeasible"):
            skipped.append((name, f"base model is {base.status}"))
            continue
        variants, _ = generate_variants(formulation)
        for variant in variants:
            cases.append((name, variant.transform, variant.equivalent, formulation,
                          variant.model))
    return cases, skipped


def dropped_cases():
    """Hard negatives: each synthesis family's default instance against itself with all
    its constraints, or one constraint family, dropped, where that changes the optimal
    value or status (a map fixed to the optimum could still carry optimum to optimum)."""
    from nl2opt.synthesis.families import FAMILIES

    cases, skipped = [], []
    for family in FAMILIES:
        base = family.generate({}, 0)
        try:
            reference = solve(from_formulation(base))
        except Nl2OptError as exc:
            skipped.append((family.name, f"not an LP/MILP/QP instance ({type(exc).__name__})"))
            continue
        for dropped in [None, *dict.fromkeys(c.name for c in base.constraints)]:
            kept = [c for c in base.constraints if dropped is not None and c.name != dropped]
            variant = base.model_copy(update={"constraints": kept})
            if not _same_outcome(reference, solve(from_formulation(variant))):
                kind = "all constraints dropped" if dropped is None else "one family dropped"
                cases.append((f"{family.name} -{dropped or 'all'}", kind, False, base, variant))
    return cases, skipped


def kept_cases(root: str):
    """Pairs with the same optimum: each synthesis family's default instance (and each
    example) against itself with one constraint family dropped, where the optimal value
    and status stay the same. Labelled by an oracle independent of the checker: the
    pair is equivalent iff every dropped row is redundant, i.e. neither side of it can
    be crossed over the reduced model (two exact solves per row). A non-redundant row
    that changes no optimum is a cut far from every optimum: only the feasible regions
    tell such pairs apart."""
    from nl2opt.synthesis.families import FAMILIES

    bases = [(family.name, family.generate({}, 0)) for family in FAMILIES]
    bases += [(os.path.basename(path), load_formulation(path)) for path in
              sorted(glob.glob(os.path.join(root, "examples", "*.json")))
              if not path.endswith("expected.json")]
    cases, skipped = [], []
    for name, base in bases:
        try:
            full = from_formulation(base)
            reference = solve(full)
        except Nl2OptError as exc:
            skipped.append((name, f"not an LP/MILP/QP instance ({type(exc).__name__})"))
            continue
        if reference.status != "optimal":
            skipped.append((name, f"base model is {reference.status}"))
            continue
        for dropped in dict.fromkeys(c.name for c in base.constraints):
            kept = [c for c in base.constraints if c.name != dropped]
            variant = base.model_copy(update={"constraints": kept})
            reduced = from_formulation(variant)
            if _same_outcome(reference, solve(reduced)):
                redundant = _all_redundant(full, reduced)
                cases.append((f"{name} -{dropped}", "redundant family dropped" if redundant
                               else "far-from-optimum family dropped", redundant, base,
                               variant))
    return cases, skipped


def _all_redundant(full, reduced) -> bool:
    """Does every row of `full` missing from `reduced` hold over all of `reduced`?"""
    present = set(reduced.row_names)
    for row, row_name in enumerate(full.row_names):
        if row_name in present:
            continue
        coefficients = full.matrix[row].toarray().ravel()
        for bound, sign in ((full.row_upper[row], -1.0), (full.row_lower[row], 1.0)):
            if not np.isfinite(bound):
                continue
            found = solve(reduced, cost=sign * coefficients)
            if found.status != "optimal":
                return False  # unbounded: the side can be crossed
            reach = float(coefficients @ found.x)
            if sign * (reach - bound) < -1e-6 * max(1.0, abs(bound)):
                return False
    return True


def _same_outcome(a, b) -> bool:
    if a.status != b.status:
        return False
    if a.objective is None or b.objective is None:
        return a.objective == b.objective
    return abs(a.objective - b.objective) <= 1e-6 * max(1.0, abs(a.objective))


# --- FormulationBench -------------------------------------------------------------------

def gurobipy_script(formulation: dict, data: dict) -> str | None:
    """A gurobipy script building the formulation on `data`; None if a parameter is missing."""
    if any(name not in data for name in formulation["parameters"]):
        return None
    lines = ["import json", "import gurobipy as gp", "from gurobipy import GRB, quicksum",
             *formulation.get("imports", []),
             f"data = json.loads({json.dumps(json.dumps(data))})",
             'model = gp.Model(env=gp.Env(params={"OutputFlag": 0}))']
    lines += [f"{name} = data[{name!r}]" for name in formulation["parameters"]]
    for definition in formulation.get("definitions", {}).values():
        lines += definition["code"].get("python", "").splitlines()
    for name, variable in formulation["variables"].items():
        lines.append(_variable_line(name, variable))
    for constraint in formulation["constraints"]:
        lines += constraint["code"].get("gurobipy", "").splitlines()
    lines += formulation["objective"]["code"].get("gurobipy", "").splitlines()
    return "\n".join(lines) + "\n"


def _variable_line(name: str, variable: dict) -> str:
    vtype = {"continuous": "GRB.CONTINUOUS", "integer": "GRB.INTEGER",
             "binary": "GRB.BINARY"}[variable["type"]]
    # FormulationBench convention: variables are free unless binary; bounds are constraints.
    lb = "" if variable["type"] == "binary" else "lb=-GRB.INFINITY, "
    if variable.get("indices"):
        return f"{name} = model.addVars([{variable['indices']}], {lb}vtype={vtype}, name={name!r})"
    shape = [re.sub(r"\|(\w+)\|", r"len(\1)", d) for d in variable["shape"]]
    if not shape:
        return f"{name} = model.addVar({lb}vtype={vtype}, name={name!r})"
    loops, names = [], []
    for k, dim in enumerate(shape):
        ragged = re.fullmatch(r"(\w+)\[(.+)\]", dim)
        if ragged and ragged.group(2) in shape[:k]:
            dim = f"{ragged.group(1)}[_i{shape.index(ragged.group(2))}]"
        loops.append(f"for _i{k} in range({dim})")
        names.append(f"_i{k}")
    key = f"({', '.join(names)})" if len(names) > 1 else names[0]
    label = "_".join("{" + n + "}" for n in names)
    return (f"{name} = gp.tupledict({{{key}: model.addVar({lb}vtype={vtype}, "
            f"name=f\"{name}[{label}]\") {' '.join(loops)}}})")


def formulationbench_cases(data_dir: str):
    problems = {}
    with open(os.path.join(data_dir, "formulationbench_problems.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            problems[row["id"]] = row
    with open(os.path.join(data_dir, "dataset.json"), encoding="utf-8") as fh:
        pairs = json.load(fh)["reformulations"]
    built, cases, skipped = {}, [], []

    def instance(problem: str, letter: str):
        if (problem, letter) not in built:
            row = problems[problem]
            script = gurobipy_script(row["formulations"][letter], row["data"])
            if script is None:
                built[(problem, letter)] = "parameters not in the staged data (parameter map " \
                                           "not staged)"
            else:
                try:
                    built[(problem, letter)] = instance_from_script(
                        script, source=f"{problem}{letter}", timeout=120)
                except Nl2OptError as exc:
                    built[(problem, letter)] = f"script failed: {str(exc)[:200]}"
        return built[(problem, letter)]

    for pair in pairs:
        problem = f"p{pair['a']['problem']}"
        a, b = pair["a"]["formulation"], pair["b"]["formulation"]
        ia, ib = instance(problem, a), instance(problem, b)
        if isinstance(ia, str) or isinstance(ib, str):
            skipped.append((f"{problem} {a}-{b}", ia if isinstance(ia, str) else ib))
            continue
        notes = problems[problem]["formulations"][b]["metadata"].get("notes", [])
        kind = next((n.split(":", 1)[1].strip().rstrip(".") for n in notes
                     if n.startswith("Transformation of formulation")), "published reformulation")
        cases.append((f"{problem} {a}-{b}", kind, bool(pair["reformulation"]), ia, ib))
    return cases, skipped


# --- scoring ----------------------------------------------------------------------------

def run(cases, verbose: bool = False):
    results = []
    for case, kind, label, a, b in cases:
        if verbose:
            print(f"  {case} {kind} ...", end="", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            report = equivalent(a, b, time_limit=20, budget=BUDGET_SECONDS)
            predicted = {"mapping": report.verdict == "equivalent",
                         "optimal_value": bool(report.baselines.get("optimal_value")),
                         "wl_graph": bool(report.baselines.get("wl_graph"))}
            verdict = report.verdict
        except Nl2OptError as exc:
            predicted = {m: False for m in METHODS}
            verdict = f"error: {exc}"[:80]
        results.append((case, kind, label, verdict, predicted, time.perf_counter() - started))
        if verbose:
            print(f" {verdict} ({results[-1][5]:.1f} s)", file=sys.stderr, flush=True)
    return results


def scores(rows) -> dict[str, tuple[float, float, float]]:
    out = {}
    for method in METHODS:
        tp = sum(1 for r in rows if r[2] and r[4][method])
        fp = sum(1 for r in rows if not r[2] and r[4][method])
        fn = sum(1 for r in rows if r[2] and not r[4][method])
        correct = sum(1 for r in rows if r[2] == r[4][method])
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        out[method] = (precision, recall, correct / len(rows) if rows else float("nan"))
    return out


def print_table(title: str, results, skipped) -> None:
    print(f"\n## {title}: {len(results)} pairs ({sum(r[2] for r in results)} equivalent), "
          f"{len(skipped)} skipped")
    by_kind = defaultdict(list)
    for row in results:
        by_kind[(row[1], row[2])].append(row)
    print(f"| {'transformation':48s} | label | n  | mapping | opt-value | WL  | unknown |")
    print(f"|{'-' * 50}|-------|----|---------|-----------|-----|---------|")
    for (kind, label), rows in sorted(by_kind.items(), key=lambda kv: (not kv[0][1], kv[0][0])):
        right = {m: sum(1 for r in rows if r[4][m] == label) for m in METHODS}
        unknown = sum(1 for r in rows if r[3] == "unknown")
        print(f"| {kind[:48]:48s} | {'eq' if label else 'neq':5s} | {len(rows):2d} | "
              f"{right['mapping']:3d}/{len(rows):<3d} | {right['optimal_value']:5d}/{len(rows):<3d} "
              f"| {right['wl_graph']:2d}  | {unknown:7d} |")
    print("\n| method        | precision | recall | accuracy |")
    print("|---------------|-----------|--------|----------|")
    for method, (p, r, a) in scores(results).items():
        print(f"| {method:13s} | {p:9.3f} | {r:6.3f} | {a:8.3f} |")
    wrong = [r for r in results if r[4]["mapping"] != r[2]]
    if wrong:
        print("\nmapping errors: " + "; ".join(f"{r[0]} {r[1]} -> {r[3]}" for r in wrong))
    if skipped:
        reasons = defaultdict(int)
        for _, why in skipped:
            reasons[why.split(":")[0]] += 1
        print("skipped: " + "; ".join(f"{n} x {why}" for why, n in reasons.items()))
    print(f"time: {sum(r[5] for r in results):.1f} s in equivalent()")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("generated", "dropped", "kept", "formulationbench",
                                            "all"),
                        default="all")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--verbose", action="store_true", help="print each pair as it runs")
    args = parser.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.suite in ("generated", "all"):
        cases, skipped = generated_cases(root)
        print_table("Generated suite (examples/*.json x transformations)", run(cases, args.verbose), skipped)
    if args.suite in ("dropped", "all"):
        cases, skipped = dropped_cases()
        print_table("Hard negatives (synthesis families with constraints dropped)",
                    run(cases, args.verbose), skipped)
    if args.suite in ("kept", "all"):
        cases, skipped = kept_cases(root)
        print_table("Same optimum (one constraint family dropped, optimum unchanged)",
                    run(cases, args.verbose), skipped)
    if args.suite in ("formulationbench", "all"):
        if not os.path.isdir(args.data):
            print(f"\nFormulationBench data not found at {args.data}; skipped", file=sys.stderr)
            return
        try:
            import gurobipy  # noqa: F401
        except ImportError:
            print("\ngurobipy is not installed; FormulationBench needs it (pip install "
                  "gurobipy)", file=sys.stderr)
            return
        cases, skipped = formulationbench_cases(args.data)
        print_table("FormulationBench (staged substitute for EquivaFormulation)", run(cases, args.verbose),
                    skipped)


if __name__ == "__main__":
    main()
