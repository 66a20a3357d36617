"""The experience library's measurement protocol over AlphaOPT's splits.

1. Training tasks: the union of AlphaOPT's split/*_train.json (nl4opt, nlp4lp,
   mamo_complex, industryor, logior), in a fixed shuffled order.
2. Learning curve: for each size N (default 100, 200, 300, all), a library
   learned from the first N tasks (OUT/library-N.sqlite; each size continues
   from a copy of the previous one, so every task is learned from once).
3. Evaluation, in `nl2opt eval`'s format (results.jsonl, report.md/html,
   summary.json per run): every test split (split/*_test.json) and the
   out-of-distribution sets (clean/optibench.json, clean/mamo_easy.json,
   clean/complexor.json), without a library and with each library.
4. OUT/summary.md: accuracy per dataset and library size, and the change
   against no library.

Test items are only evaluated, never learned from. Every step resumes: run the
same command again after an interruption. With `--llm batch:DIR` the script
stops whenever requests are waiting, printing the command that answers them;
run it, then this script again.

    python bench/library_eval.py --llm SPEC --out runs/library-eval [--sizes 100,200,300,all]
        [--embeddings openai:MODEL@URL]
        [--test-limit N] [--rounds 3] [--workers 2] [--batch-size 32]
        [--data ../shared/datasets/alphaopt]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
from pathlib import Path

TRAIN = ("nl4opt", "nlp4lp", "mamo_complex", "industryor", "logior")
OUT_OF_DISTRIBUTION = ("optibench", "mamo_easy", "complexor")


def training_tasks(data: Path, seed: int):
    from nl2opt.library.tasks import tasks_from_file

    tasks = [task for name in TRAIN
             for task in tasks_from_file(data / "optimization_tasks" / "split"
                                         / f"{name}_train.json")
             if task.answer_status != "unlabeled"]
    random.Random(seed).shuffle(tasks)
    return tasks


def evaluation_sets(data: Path) -> dict[str, Path]:
    split, clean = data / "optimization_tasks" / "split", data / "optimization_tasks" / "clean"
    sets = {f"{name}_test": split / f"{name}_test.json" for name in TRAIN}
    sets.update({f"{name} (ood)": clean / f"{name}.json" for name in OUT_OF_DISTRIBUTION})
    return sets


def learn_curve(tasks, sizes: list[int | None], out: Path, llm, args) -> dict[str, Path]:
    from nl2opt.library.learn import LearnOptions, learn
    from nl2opt.library.store import LibraryStore

    libraries, previous = {}, None
    for size in sizes:
        label = "all" if size is None else str(size)
        path = out / f"library-{label}.sqlite"
        if not path.exists() and previous is not None:
            with sqlite3.connect(previous) as source, sqlite3.connect(path) as target:
                source.backup(target)
        options = LearnOptions(run="curve", rounds=args.rounds, workers=args.workers,
                               time_limit=args.time_limit, batch_size=args.batch_size,
                               embeddings=args.embedding_client)
        with LibraryStore(path) as store:
            print(f"learning library-{label} from {len(tasks[:size])} task(s)", file=sys.stderr)
            learn(store, llm, tasks[:size], options)
        libraries[label], previous = path, path
    return libraries


def evaluate(name: str, path: Path, library: Path | None, out: Path, llm, spec: str,
             args) -> tuple[int, int]:
    """(correct, scored) of one evaluation run (resumed if it exists)."""
    from nl2opt.datasets import load_dataset
    from nl2opt.evaluation.records import RunConfig
    from nl2opt.evaluation.reporting import write_report
    from nl2opt.evaluation.runner import run_evaluation
    from nl2opt.library.retrieval import open_retriever

    dataset = load_dataset(path, limit=args.test_limit)
    config = RunConfig(dataset=str(path), llm=spec, rounds=args.rounds, workers=args.workers,
                       time_limit=args.time_limit, limit=args.test_limit,
                       library=str(library) if library else None,
                       embeddings=args.embeddings if library else None)
    insights = open_retriever(library, llm, embeddings=args.embedding_client) \
        if library else None
    records = run_evaluation(dataset, llm, config, out, resume=(out / "run.json").exists(),
                             insights=insights)
    write_report(out)
    scored = [r for r in records if r.scored]
    return sum(r.correct for r in scored), len(scored)


def summary_table(results: dict[str, dict[str, tuple[int, int]]], columns: list[str]) -> str:
    lines = ["| dataset | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, row in results.items():
        base = row["none"][0] / row["none"][1] if row["none"][1] else None
        cells = []
        for column in columns:
            correct, scored = row[column]
            accuracy = correct / scored if scored else None
            text = "n/a" if accuracy is None else f"{100 * accuracy:.1f}% ({correct}/{scored})"
            if column != "none" and accuracy is not None and base is not None:
                text += f" {100 * (accuracy - base):+.1f}"
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", required=True, help="LLM spec (batch:DIR, replay:FILE, ...)")
    parser.add_argument("--out", type=Path, default=Path("runs/library-eval"))
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/alphaopt"))
    parser.add_argument("--sizes", default="100,200,300,all")
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32, help="training tasks per "
                        "learning chunk (and per batch of LLM requests)")
    parser.add_argument("--embeddings", default=None, metavar="SPEC", help="dense retrieval: "
                        "openai:MODEL@http://host:port/v1 (docs/library.md)")
    args = parser.parse_args()

    from nl2opt.library.retrieval import embedding_client
    from nl2opt.library.solving import LearningPending, StopOnPending
    from nl2opt.llm.spec import make_llm

    llm = StopOnPending(make_llm(args.llm))
    args.embedding_client = embedding_client(args.embeddings)  # one cache for the whole run
    sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        libraries = learn_curve(training_tasks(args.data, args.seed), sizes, args.out, llm, args)
        columns = ["none", *libraries]
        results: dict[str, dict[str, tuple[int, int]]] = {}
        for name, path in evaluation_sets(args.data).items():
            for column in columns:
                run = args.out / "runs" / column / name.replace(" (ood)", "-ood")
                results.setdefault(name, {})[column] = evaluate(
                    name, path, libraries.get(column), run, llm, args.llm, args)
    except LearningPending as stop:
        print(f"waiting for the LLM: {stop}\nthen run this command again.", file=sys.stderr)
        return 3
    table = summary_table(results, columns)
    (args.out / "summary.md").write_text("# Experience library: accuracy without and with "
                                         "the library\n\n" + table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
