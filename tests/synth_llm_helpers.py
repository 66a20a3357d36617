"""A fake LLM for synthesis tests that answers by reading the prompt (stateless, so the
order of requests, batching and resuming do not matter).

* write / refine: a text carrying a reference to the model it was asked about;
* critic: "complete";
* formulate (nl2opt's pipeline): the referenced model, faithfully, or with its
  constraints dropped when the model's name is in `drop_constraints`;
* repair: the formulation it was shown, unchanged.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from llm_server import chat_completion


class Responder:
    def __init__(self, drop_constraints: tuple[str, ...] = ()) -> None:
        self.models: dict[str, dict] = {}
        self.drop = drop_constraints

    def __call__(self, body: dict) -> dict:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if system.startswith(("You write optimization word problems", "You revise")):
            return {"text": self._text(user)}
        if system.startswith("You check that a word problem"):
            return {"verdict": "complete", "discrepancies": []}
        if "Current formulation:" in user:
            current = user.split("Current formulation:\n", 1)[1].split("\n\nProblems found")[0]
            return {"reasoning": "unchanged", "formulation": json.loads(current)}
        reference = user.split("(ref ", 1)[1].split(")", 1)[0]
        model = json.loads(json.dumps(self.models[reference]))
        if model["name"] in self.drop:
            model["constraints"] = []
        return {"reasoning": "as stated", "formulation": model}

    def _text(self, user: str) -> str:
        line = user.split("The model:\n", 1)[1].split("\n", 1)[0]
        reference = hashlib.sha256(line.encode()).hexdigest()[:12]
        self.models[reference] = json.loads(line)
        return f"A planning problem (ref {reference}) stated in full for people."


def answer_batch(directory: Path, responder: Responder, model: str) -> int:
    """Answer every queued request of a batch: folder, as `vllm run-batch` would."""
    requests = directory / "requests.jsonl"
    responses = directory / "responses.jsonl"
    done = {json.loads(line)["custom_id"] for line in responses.read_text().splitlines()} \
        if responses.exists() else set()
    answered = 0
    with responses.open("a") as handle:
        for line in requests.read_text().splitlines():
            request = json.loads(line)
            if request["custom_id"] in done:
                continue
            content = json.dumps(responder(request["body"]))
            handle.write(json.dumps({"id": f"r-{answered}", "custom_id": request["custom_id"],
                                     "response": {"status_code": 200, "body": chat_completion(
                                         [content], model=model)}, "error": None}) + "\n")
            answered += 1
    return answered
