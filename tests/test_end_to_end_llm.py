"""Text to answer through a real local OpenAI-compatible HTTP server and the real
langchain client, with failure injection: every bad answer is repaired by the loop or
ends in a clear error."""

import copy
import json

import pytest
from typer.testing import CliRunner

import nl2opt
from nl2opt.cli import app

from conftest import EXAMPLES
from llm_server import ChatServer, Reply

PROBLEM = (EXAMPLES / "bakery.txt").read_text()
OPTIMUM = 7200 / 7
NO_FINDINGS = {"requirements": [], "findings": []}  # the semantic review's verdict


@pytest.fixture
def good():
    return {"reasoning": "Two products share oven hours and flour; maximize profit.",
            "formulation": json.loads((EXAMPLES / "bakery_lp.json").read_text())}


def broken(good, change):
    reply = copy.deepcopy(good)
    change(reply["formulation"])
    return reply


def spec(server) -> str:
    return f"openai:test-model@{server.base_url}"


def test_text_to_answer_end_to_end(good):
    with ChatServer([good, NO_FINDINGS]) as server:
        report = nl2opt.solve(PROBLEM, llm=spec(server))
    assert report.ok and report.objective == pytest.approx(OPTIMUM)
    assert report.reviews[0].verdict.findings == []
    assert "def capacity_rule" in report.code or "capacity" in report.code
    body = server.requests[0]
    assert body["model"] == "test-model"
    assert body["response_format"]["type"] == "json_schema"
    assert "bread and cakes" in body["messages"][-1]["content"]


def _drop_colons(text: str) -> str:
    # No object anywhere in the text stays valid JSON.
    return text.replace('": ', '" ')


INJECTIONS = {
    "malformed JSON": lambda good: _drop_colons(json.dumps(good)),
    "truncated output": lambda good: Reply(text=json.dumps(good)[:300], finish_reason="length"),
    "schema violation": lambda good: broken(good, lambda f: f["variables"][0].update(
        type="real")),
    "undefined symbol": lambda good: broken(good, lambda f: f["constraints"][0].update(
        expression="sum(use[r, p] * x[p] for p in P) <= availability[r]")),
    "infeasible": lambda good: broken(good, lambda f: f["constraints"].append(
        {"name": "min_cake", "expression": "x['cake'] >= 30"})),
    "unbounded": lambda good: broken(good, lambda f: f.update(constraints=[])),
}
FEEDBACK = {
    "malformed JSON": "no JSON object", "truncated output": "cut off at the token limit",
    "schema violation": "Schema error at formulation.variables[0].type",
    "undefined symbol": "'availability' is not",
    "infeasible": "min_cake", "unbounded": "improves without limit",
}


@pytest.mark.parametrize("kind", sorted(INJECTIONS))
def test_injected_failures_are_repaired(good, kind):
    with ChatServer([INJECTIONS[kind](good), good, NO_FINDINGS]) as server:
        report = nl2opt.solve(PROBLEM, llm=spec(server))
    assert report.ok and report.objective == pytest.approx(OPTIMUM), report.error
    assert len(server.requests) == 3  # formulate, repair, review
    repair_prompt = server.requests[1]["messages"][-1]["content"]
    assert FEEDBACK[kind] in repair_prompt


def test_integer_quantities_declared_continuous_are_repaired(good):
    def counted(f):
        f["variables"][0]["description"] = "number of batches"
        f["assumptions"] = []
    first = broken(good, counted)
    fixed = broken(first, lambda f: f["variables"][0].update(type="integer"))
    with ChatServer([first, fixed, NO_FINDINGS]) as server:
        report = nl2opt.solve(PROBLEM, llm=spec(server))
    assert "seems to count whole units" in server.requests[1]["messages"][-1]["content"]
    assert report.objective == pytest.approx(1020)


def test_persistent_failure_stops_with_a_clear_error(good):
    with ChatServer(["no model here"] * 3) as server:
        report = nl2opt.solve(PROBLEM, llm=spec(server), rounds=2)
    assert report.result is None and "no usable formulation after all rounds" in report.error


def test_server_down_is_a_clear_error():
    from nl2opt.llm.openai_backend import OpenAIBackend

    # Connection errors are retried (a server may be starting); keep the test quick.
    llm = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", retries=1, backoff_base=0.01)
    with pytest.raises(nl2opt.Nl2OptError, match="127.0.0.1:9"):
        nl2opt.solve(PROBLEM, llm=llm, rounds=0)


def test_cli_text_to_answer_json(good):
    with ChatServer([good, NO_FINDINGS]) as server:
        result = CliRunner().invoke(app, ["solve", str(EXAMPLES / "bakery.txt"),
                                          "--llm", spec(server), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["result"]["termination"] == "optimal"
    assert payload["attempts"][0]["prompt_id"] == "formulate.v3"
    assert payload["attempts"][0]["review"]["prompt_id"] == "review.v1"


def test_cli_formulate_writes_a_formulation(good, tmp_path):
    target = tmp_path / "f.json"
    with ChatServer([good, NO_FINDINGS]) as server:
        result = CliRunner().invoke(app, ["formulate", PROBLEM, "--llm", spec(server),
                                          "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert nl2opt.load_formulation(target).objective.sense.value == "maximize"
