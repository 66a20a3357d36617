"""How fast is the fact-coverage check, and how often is an "unused fact" warning right?

    python bench/coverage_check.py [--repeats 3] [--verbose]

Two measurements:

  speed      the check (fact extraction + matching) on every hand-checked pair (the
             examples/ formulations with their texts, and 30 formulations written by
             hand for AlphaOPT training items, tests/data/coverage/), best of --repeats;
             and fact extraction alone on every staged benchmark question
             (<data dir>/*/canonical.jsonl), which bounds the check's cost on real texts.
  precision  every "unused fact" warning is judged. On a hand-checked (correct)
             formulation a warning is wrong unless the fact is listed as irrelevant by
             hand. Each formulation is then broken on purpose, once per constraint
             (dropped) and once per parameter or numbered constraint (first number
             changed); a warning on a mutant is right when the original had no such
             warning, i.e. the error made the fact unused. Also shown: how many mutants
             raised any new warning (unused fact or invented value).
  held out   the reference programs (`correct_program`, gurobipy code) of every AlphaOPT
             training item that has one, none of them looked at while the checker was
             written: their numeric literals, list lengths and variable and constraint
             counts stand in for a model's numbers (the code is parsed with `ast`, never
             run). Every warning there is a false alarm or a fact the program does not
             need; their share of all facts bounds the false-warning rate.

The last line is machine-readable: coverage_ms_p50=<x> unused_fact_precision=<y>.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from coverage_cases import Case, dataset_root, example_cases, training_cases

from nl2opt.coverage import check_coverage, extract_facts
from nl2opt.coverage.check import check_numbers
from nl2opt.coverage.mutate import mutants
from nl2opt.coverage.numbers import ModelNumber, Source


def time_check(case: Case, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        check_coverage(case.text, case.formulation)
        best = min(best, time.perf_counter() - started)
    return best


def judge(case: Case, verbose: bool) -> dict[str, int]:
    """Right and wrong unused-fact warnings on a case and its mutants."""
    base = check_coverage(case.text, case.formulation)
    wrong = [f for f in base.unused if f.text not in case.irrelevant]
    counts = {"right": len(base.unused) - len(wrong), "wrong": len(wrong), "mutants": 0,
              "caught": 0, "original": len(base.unused)}
    if verbose:
        for fact in wrong:
            print(f"  false warning  {case.name}: {fact.describe()}")
    for mutant in mutants(case.formulation):
        coverage = check_coverage(case.text, mutant.formulation)
        new = [f for f in coverage.unused if f not in base.unused]
        invented = [n for n in coverage.invented if n not in base.invented]
        counts["right"] += len(new)
        counts["wrong"] += len(coverage.unused) - len(new)
        counts["mutants"] += 1
        counts["caught"] += bool(new or invented)
        if verbose and not (new or invented):
            print(f"  not caught     {case.name}: {mutant.kind} {mutant.target}")
    return counts


def report_precision(groups: dict[str, list[Case]], verbose: bool) -> float:
    """Print the judged warnings per group; return the precision over all groups."""
    right = wrong = 0
    for name, cases in groups.items():
        totals = {"right": 0, "wrong": 0, "mutants": 0, "caught": 0, "original": 0}
        for case in cases:
            for key, value in judge(case, verbose).items():
                totals[key] += value
        right, wrong = right + totals["right"], wrong + totals["wrong"]
        print(f"{name}: {len(cases)} correct formulations with {totals['original']} "
              f"warning(s); {totals['right'] + totals['wrong']} warnings in all "
              f"({totals['right']} right, {totals['wrong']} wrong); mutants caught "
              f"{totals['caught']}/{totals['mutants']}")
    return right / (right + wrong) if right + wrong else float("nan")


def program_numbers(code: str) -> list[ModelNumber]:
    """The numbers of a model script: literals, list lengths, variable/constraint counts."""
    numbers = [ModelNumber(float(code.count(call)), call, Source.structure)
               for call in ("addVar(", "addVars(", "addConstr(")]
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.List | ast.Tuple):
            numbers.append(ModelNumber(float(len(node.elts)), "a list", Source.structure))
        elif isinstance(node, ast.Dict):
            numbers.append(ModelNumber(float(len(node.keys)), "a dict", Source.structure))
        elif isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
                and not isinstance(node.value, bool):
            numbers.append(ModelNumber(abs(float(node.value)), "a literal", Source.parameter))
    return numbers


def held_out_programs() -> None:
    root = dataset_root()
    if root is None:
        return
    programs = facts = warnings = warned = 0
    for path in sorted((root / "alphaopt" / "optimization_tasks" / "split").glob("*_train.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            try:
                numbers = program_numbers(item.get("correct_program") or "")
            except SyntaxError:
                continue
            if len(numbers) <= 3:
                continue  # no program
            coverage = check_numbers(item["description"], numbers, [])
            programs, facts = programs + 1, facts + len(coverage.data_facts)
            warnings, warned = warnings + len(coverage.unused), warned + bool(coverage.unused)
    print(f"held-out reference programs: {programs} programs, {facts} facts, {warnings} "
          f"unused-fact warnings ({warnings / max(facts, 1):.1%} of facts; {warned} "
          f"programs ({warned / max(programs, 1):.0%}) with at least one)")


def staged_questions() -> list[str]:
    root = dataset_root()
    if root is None:
        return []
    questions = []
    for path in sorted(root.glob("*/canonical.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["question"])
    return questions


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return (f"p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, "
            f"max {ms.max():.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="list every misjudgement")
    args = parser.parse_args()
    training, reason = training_cases()
    if reason:
        print(f"training items skipped: {reason}")
    cases = example_cases() + training
    check_times = [time_check(case, args.repeats) for case in cases]
    print(f"check on {len(cases)} hand-checked pairs ({len(training)} training items): "
          f"{percentiles(check_times)}")
    questions = staged_questions()
    if questions:
        extract_times, facts = [], 0
        for question in questions:
            started = time.perf_counter()
            facts += len(extract_facts(question))
            extract_times.append(time.perf_counter() - started)
        print(f"fact extraction on {len(questions)} staged questions ({facts} numbers): "
              f"{percentiles(extract_times)}")
    held_out_programs()
    precision = report_precision({"examples": cases[:len(cases) - len(training)],
                                  "training items": training}, args.verbose)
    print(f"coverage_ms_p50={np.percentile(np.array(check_times) * 1000, 50):.2f} "
          f"unused_fact_precision={precision:.3f}")


if __name__ == "__main__":
    main()
