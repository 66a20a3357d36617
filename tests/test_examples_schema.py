"""Every shipped example is a valid, clean formulation of the class recorded for it."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import EXAMPLES
from nl2opt.api import check_formulation, classify_formulation
from nl2opt.formulation.model import formulation_json_schema, load_formulation
from nl2opt.formulation.validate import errors_only

EXPECTED = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json") if p.name != "expected.json")


def test_every_example_has_an_expected_entry_and_vice_versa():
    assert sorted(EXPECTED) == EXAMPLE_FILES


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_matches_json_schema(name):
    document = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    jsonschema.validate(document, formulation_json_schema())


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_loads_checks_clean_and_has_expected_class(name):
    formulation = load_formulation(EXAMPLES / name)
    assert formulation.name and formulation.description, "examples document themselves"
    assert errors_only(check_formulation(formulation)) == []
    assert classify_formulation(formulation).value == EXPECTED[name]["class"]


def _references(node) -> set[str]:
    """Names of the $defs that a schema fragment refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in the reference graph as a list of names, or None."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                return path + [name, target]
            if target not in state:
                found = visit(target, path + [name])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [])
            if found:
                return found
    return None


def test_schema_has_no_recursive_definitions():
    # Grammar-constrained decoders (xgrammar, outlines) handle recursion poorly.
    schema = formulation_json_schema()
    definitions = schema.get("$defs", {})
    graph = {name: _references(body) for name, body in definitions.items()}
    unknown = set().union(*graph.values(), _references(
        {k: v for k, v in schema.items() if k != "$defs"})) - set(definitions)
    assert not unknown, f"dangling $ref targets: {unknown}"
    assert _cycle(graph) is None, f"recursive $defs: {' -> '.join(_cycle(graph))}"


def test_cycle_finder_detects_indirect_recursion():
    assert _cycle({"A": {"B"}, "B": {"C"}, "C": {"A"}}) == ["A", "B", "C", "A"]
    assert _cycle({"A": {"B"}, "B": set()}) is None
