import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def bakery():
    from nl2opt.formulation.model import load_formulation

    return load_formulation(EXAMPLES / "bakery_lp.json")


@pytest.fixture
def bakery_dict():
    return json.loads((EXAMPLES / "bakery_lp.json").read_text())
