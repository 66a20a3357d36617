"""Imports point one way (the brief's architecture), lazy imports inside functions included:

app -> api/cli -> evaluation | library.learn | synthesis | cluster -> pipeline
    -> llm | solvers | equivalence | coverage -> formulation

A package's `commands.py` / `*_commands.py` modules register CLI sub-commands, so they sit
at the CLI's level and may import what the CLI imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nl2opt"

# What each low layer may import from nl2opt (besides itself).
BASE = {"errors", "text", "files"}
ALLOWED = {
    "formulation": BASE,
    "solvers": BASE | {"formulation"},
    "sandbox": BASE,
    "coverage": BASE | {"formulation"},
    "llm": BASE,
    "prompts": BASE | {"llm"},
    "equivalence": BASE | {"formulation", "solvers", "llm", "prompts", "sandbox"},
    "pipeline": BASE | {"formulation", "solvers", "llm", "prompts", "sandbox", "equivalence",
                        "coverage"},
}
# The library's store and retrieval stay low; its learning loop sits above the pipeline.
LIBRARY_LOW = {"model", "store", "exchange", "retrieval", "embeddings", "taxonomy"}
LIBRARY_LOW_ALLOWED = BASE | {"llm", "prompts", "library"}
NEVER_FROM_BELOW_CLI = {"cli", "app"}


def _imports(path: Path) -> set[str]:
    """nl2opt sub-packages or top modules this file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for name in names:
            if name.startswith("nl2opt."):
                found.add(name.split(".")[1])
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        yield path, parts[0].removesuffix(".py"), path.stem


def _is_command_module(stem: str) -> bool:
    return stem == "commands" or stem.endswith("_commands")


def _violations(chosen, allowed) -> dict[str, list[str]]:
    """Modules `chosen(package, stem)` picks, with the nl2opt imports `allowed(package)`
    does not allow."""
    wrong = {}
    for path, package, stem in _modules():
        if chosen(package, stem):
            extra = _imports(path) - allowed(package)
            if extra:
                wrong[str(path.relative_to(PACKAGE))] = sorted(extra)
    return wrong


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_low_layers_import_only_what_is_below_them(layer):
    wrong = _violations(lambda package, stem: package == layer and not _is_command_module(stem),
                        lambda package: ALLOWED[layer] | {layer})
    assert not wrong, f"imports against the layering: {wrong}"


def test_library_store_and_retrieval_stay_low():
    wrong = _violations(lambda package, stem: package == "library" and stem in LIBRARY_LOW,
                        lambda package: LIBRARY_LOW_ALLOWED)
    assert not wrong, f"the library's store and retrieval import from above: {wrong}"


def test_nothing_below_the_cli_imports_the_cli_or_the_app():
    everything = {"api", "cli", "app"} | {path.relative_to(PACKAGE).parts[0].removesuffix(".py")
                                         for path in PACKAGE.rglob("*.py")}
    wrong = _violations(lambda package, stem: package not in {"cli", "app", "__main__"}
                        and not _is_command_module(stem),
                        lambda package: everything - NEVER_FROM_BELOW_CLI)
    assert not wrong, f"modules below the CLI import it or the app: {wrong}"
