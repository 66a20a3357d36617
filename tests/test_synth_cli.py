"""`nl2opt synth` end to end: SFT export validated against the chat format, the dataset
card, a `batch:` run stopping with the command to run, and kill -9 then --resume of the
real command in a subprocess against a local OpenAI-compatible server."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import jsonschema
from llm_server import ChatServer
from synth_llm_helpers import Responder, answer_batch
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.formulation.model import Formulation
from nl2opt.pipeline.reply import reply_schema
from nl2opt.synthesis.records import PROBLEMS_FILE, REJECTED_FILE, ProblemRecord, read_records

runner = CliRunner()
CHAT_SCHEMA = {  # what TRL's SFTTrainer and LLaMA-Factory (sharegpt, OpenAI tags) read
    "type": "object", "required": ["messages"],
    "properties": {"messages": {"type": "array", "minItems": 2, "items": {
        "type": "object", "required": ["role", "content"], "additionalProperties": False,
        "properties": {"role": {"enum": ["system", "user", "assistant"]},
                       "content": {"type": "string", "minLength": 1}}}}}}
SMALL = ["--families", "knapsack,transportation", "--per-family", "2", "--no-tune",
         "--critique-rounds", "1", "--workers", "1", "--batch-size", "2"]


def check_chat_record(record: dict) -> None:
    jsonschema.validate(record, CHAT_SCHEMA)
    roles = [m["role"] for m in record["messages"]]
    assert roles[0] == "system" and roles[-1] == "assistant"
    assert all(a != b for a, b in itertools.pairwise(roles)), roles  # user/assistant alternate
    reply = json.loads(record["messages"][-1]["content"])
    jsonschema.validate(reply, reply_schema())
    Formulation.model_validate(reply["formulation"])


def test_batch_run_stops_with_the_command_then_exports_sft_and_card(tmp_path):
    out, batch = tmp_path / "out", tmp_path / "batch"
    command = ["synth", *SMALL, "--llm", f"batch:{batch}#m", "--out", str(out)]
    first = runner.invoke(app, command)
    assert first.exit_code == 3, first.output
    assert f"vllm run-batch -i {batch}/requests.jsonl" in first.output
    assert "run the same command with --resume" in first.output
    responder = Responder(drop_constraints=("Transportation",))
    for _ in range(8):
        answer_batch(batch, responder, "m")
        result = runner.invoke(app, [*command, "--resume"])
        if result.exit_code != 3:
            break
    assert result.exit_code == 0, result.output
    assert "2 accepted and 2 rejected pairs (acceptance 50%)" in result.output
    lines = (out / "sft.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        check_chat_record(json.loads(line))
    info = json.loads((out / "dataset_info.json").read_text())["nl2opt_synthetic"]
    assert info["file_name"] == "sft.jsonl" and info["formatting"] == "sharegpt"
    card = (out / "README.md").read_text()
    assert "| knapsack | 2 | 2 | 0 |" in card and "| transportation | 2 | 0 | 2 |" in card
    assert "| MILP | 2 |" in card and "| equivalence | 2 |" in card
    for chart in ("complexity.svg", "acceptance.svg"):
        assert (out / "charts" / chart).read_text().startswith("<svg")
    assert "knapsack (n=2)" in (out / "charts" / "acceptance.svg").read_text()


def _synth(out: Path, spec: str, log: Path, *extra) -> subprocess.Popen:
    code = "from nl2opt.cli import app; app()"
    options = ["--families", "knapsack", "--per-family", "3", "--no-tune", "--critique-rounds",
               "1", "--workers", "1", "--batch-size", "1"]
    # Output goes to a file: after kill -9 a pipe could stay open in orphaned helpers.
    with log.open("w") as handle:
        return subprocess.Popen([sys.executable, "-c", code, "synth", *options, "--llm", spec,
                                 "--out", str(out), *extra], stdout=handle,
                                stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})


def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path):
    responder = Responder()

    def answer(body):  # slow enough that the run can be killed mid-way
        time.sleep(0.15)
        return responder(body)

    out = tmp_path / "out"
    with ChatServer(answer) as server:
        spec = f"openai:test-model@{server.base_url}"
        process = _synth(out, spec, tmp_path / "first.log")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "llm_cache.jsonl").exists() and \
                    (out / "llm_cache.jsonl").read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
        assert process.poll() is None, (tmp_path / "first.log").read_text()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        asked_before = len(server.requests)
        resumed = _synth(out, spec, tmp_path / "resumed.log", "--resume")
        assert resumed.wait(timeout=300) == 0, (tmp_path / "resumed.log").read_text()
    accepted = read_records(out / PROBLEMS_FILE, ProblemRecord)
    rejected = read_records(out / REJECTED_FILE, ProblemRecord)
    lines = [json.loads(line)["uid"] for name in (PROBLEMS_FILE, REJECTED_FILE)
             for line in (out / name).read_text().splitlines()]
    assert sorted(lines) == [r.uid for r in accepted] == [
        "knapsack-00000", "knapsack-00001", "knapsack-00002"]
    assert rejected == []
    # Nothing asked twice, except a request the kill caught in flight (one per wave).
    bodies = Counter(json.dumps(body["messages"], sort_keys=True) for body in server.requests)
    repeated = sum(n - 1 for n in bodies.values())
    assert repeated <= 1 and asked_before >= 3
    assert len(bodies) == 9  # write, critique and formulate, for each of the 3 problems
    assert (out / "sft.jsonl").read_text().count("\n") == 3
