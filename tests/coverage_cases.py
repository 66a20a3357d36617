"""The hand-checked coverage set: problem texts paired with formulations known to be right.

`example_cases()` pairs every shipped example with its text (`examples/<stem>.txt`
where there is one, else the formulation's description). `training_cases()` reads the
30 hand-written formulations of tests/data/coverage/ and the texts of their AlphaOPT
training items from the staged datasets (the texts are not copied into the repository).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from nl2opt.datasets.loader import candidate_data_dirs
from nl2opt.formulation.model import Formulation, load_formulation

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CASES = ROOT / "tests" / "data" / "coverage"
TEXTS = {"bakery_lp": "bakery"}  # examples whose text file has another stem


@dataclass
class Case:
    name: str
    text: str
    formulation: Formulation
    irrelevant: list[str] = field(default_factory=list)  # numbers a correct model needn't use
    ground_truth: float | None = None
    rounded: bool = False  # the question asks for a value rounded to a whole number


def example_cases() -> list[Case]:
    cases = []
    for path in sorted(EXAMPLES.glob("*.json")):
        if path.name == "expected.json":
            continue
        formulation = load_formulation(path)
        text_file = EXAMPLES / f"{TEXTS.get(path.stem, path.stem)}.txt"
        text = text_file.read_text(encoding="utf-8") if text_file.exists() \
            else formulation.description
        cases.append(Case(path.name, text, formulation))
    return cases


def dataset_root() -> Path | None:
    for directory in candidate_data_dirs():
        if (directory / "alphaopt" / "optimization_tasks" / "split").is_dir():
            return directory
    return None


@cache
def _items(path: Path) -> dict[str, dict]:
    return {item["task_id"]: item for item in json.loads(path.read_text(encoding="utf-8"))}


def training_cases() -> tuple[list[Case], str]:
    """(cases, '') or ([], the reason they are unavailable)."""
    root = dataset_root()
    if root is None:
        return [], ("the staged AlphaOPT data (alphaopt/optimization_tasks/split) is not in "
                    f"any data dir ({', '.join(map(str, candidate_data_dirs()))})")
    cases = []
    for path in sorted(CASES.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert "_train.json" in record["source"], f"{path.name}: training items only"
        item = _items(root / record["source"])[record["task_id"]]
        text = item["description"]
        cases.append(Case(record["task_id"], text, load_formulation(record["formulation"]),
                          record.get("irrelevant", []), item.get("ground_truth"),
                          "rounded to the nearest" in text))
    return cases, ""
