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


@pytest.fixture
def db(tmp_path, monkeypatch):
    """The chat app's history database, in a fresh folder (and no LLM preselected)."""
    path = tmp_path / "app.db"
    monkeypatch.setenv("NL2OPT_APP_DB", str(path))
    monkeypatch.delenv("NL2OPT_LLM", raising=False)
    return path
