"""Batch JSONL files (vllm run-batch format), replay and recording."""

from __future__ import annotations

import json

import pytest
from llm_server import ChatServer, chat_completion

from nl2opt.llm.batch import BatchBackend, BatchPending, queue_batch_requests, read_batch_responses
from nl2opt.llm.openai_backend import OpenAIBackend, build_chat_body
from nl2opt.llm.replay import RecordingBackend, ReplayBackend
from nl2opt.llm.types import LLMError, LLMRequest, Message, Sampling

MODEL = "Qwen/Qwen3-8B"
SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}}


def request(text: str, n: int = 1) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content=f"{text}\nsecond line")],
                      json_schema=SCHEMA, n=n, sampling=Sampling(seed=1))


def answer_file(requests_path, responses_path, reply_for, failing=()):
    """What `vllm run-batch` would write: one output line per request line."""
    lines = []
    for line in requests_path.read_text().splitlines():
        item = json.loads(line)
        body = item["body"]
        if item["custom_id"] in failing:
            lines.append({"id": "x", "custom_id": item["custom_id"], "response": {
                "status_code": 400, "body": {"error": {"message": "context too long"}}},
                "error": None})
            continue
        texts = [reply_for(body["messages"][-1]["content"], i) for i in range(body.get("n", 1))]
        lines.append({"id": "batch-1", "custom_id": item["custom_id"], "error": None,
                      "response": {"status_code": 200, "request_id": "r",
                                   "body": chat_completion(texts, model=body["model"])}})
    responses_path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_queue_batch_requests_keeps_only_unanswered_requests_once(tmp_path):
    path = tmp_path / "requests.jsonl"
    assert queue_batch_requests(path, [request("a"), request("b")], MODEL, set()) == 2
    assert queue_batch_requests(path, [request("b"), request("c"), request("c")], MODEL,
                                set()) == 1
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [request(t).key(MODEL) for t in "abc"]
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert lines[0]["body"] == build_chat_body(request("a"), MODEL)
    assert lines[0]["body"]["response_format"]["json_schema"]["schema"] == SCHEMA
    # Answered requests leave the queue; an answered one asked again is not queued.
    assert queue_batch_requests(path, [request("a"), request("d")], MODEL,
                                {request("a").key(MODEL), request("b").key(MODEL)}) == 1
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [request(t).key(MODEL) for t in "cd"]


def test_read_batch_responses_parses_completions_and_skips_errors(tmp_path):
    path = tmp_path / "responses.jsonl"
    ok = {"custom_id": "k1", "error": None, "response": {"status_code": 200, "body":
          chat_completion(['{"x": 1}', 'oops'], model=MODEL, finish_reasons=["stop", "length"])}}
    bad = {"custom_id": "k2", "response": None, "error": {"message": "boom"}}
    path.write_text(json.dumps(ok) + "\n\n" + json.dumps(bad) + "\n")
    answers = read_batch_responses(path)
    assert list(answers) == ["k1"]
    first, second = answers["k1"]
    assert first.parsed == {"x": 1} and first.usage.prompt_tokens == 11
    assert second.finish_reason == "length" and second.parsed is None


def test_batch_backend_queues_then_resumes(tmp_path):
    llm = BatchBackend(tmp_path, MODEL)
    asked = [request("a"), request("b", n=2)]
    with pytest.raises(BatchPending) as caught:
        llm.generate(asked)
    assert caught.value.pending == 2 and not caught.value.retryable
    assert f"vllm run-batch -i {tmp_path / 'requests.jsonl'}" in caught.value.hint
    assert f"--model {MODEL}" in caught.value.hint

    answer_file(llm.requests_path, llm.responses_path,
                lambda text, i: json.dumps({"x": len(text.splitlines()[0]) + i}))
    answers = llm.generate(asked)
    assert [[r.parsed for r in a] for a in answers] == [[{"x": 1}], [{"x": 1}, {"x": 2}]]

    # A later stage asks for one more: only that one is queued (the answered ones leave
    # the queue, so the next batch run asks nothing twice) and its answers go to a new
    # file, so no answer is overwritten.
    with pytest.raises(BatchPending) as caught:
        llm.generate(asked + [request("ccc")])
    assert caught.value.pending == 1
    assert [a is not None for a in caught.value.answers] == [True, True, False]
    assert caught.value.answers[1][1].parsed == {"x": 2}
    queued = [json.loads(x)["custom_id"] for x in llm.requests_path.read_text().splitlines()]
    assert queued == [request("ccc").key(MODEL)]
    assert llm.responses_path.name == "responses-2.jsonl"
    assert f"-o {tmp_path / 'responses-2.jsonl'}" in caught.value.command
    answer_file(llm.requests_path, llm.responses_path, lambda text, i: '{"x": 9}')
    answers = llm.generate(asked + [request("ccc")])
    assert [a[0].parsed for a in answers] == [{"x": 1}, {"x": 1}, {"x": 9}]


def test_the_first_answer_of_a_request_wins_across_batch_files(tmp_path):
    # A resumed pipeline must see the answer it saw before, even if a request was run
    # again later (sampling can give another answer).
    llm = BatchBackend(tmp_path, MODEL)
    with pytest.raises(BatchPending):
        llm.generate([request("a")])
    answer_file(llm.requests_path, tmp_path / "responses.jsonl", lambda t, i: '{"x": 1}')
    answer_file(llm.requests_path, tmp_path / "responses-10.jsonl", lambda t, i: '{"x": 3}')
    answer_file(llm.requests_path, tmp_path / "responses-2.jsonl", lambda t, i: '{"x": 2}')
    assert llm.generate([request("a")])[0][0].parsed == {"x": 1}
    assert llm.responses_path.name == "responses-3.jsonl"


def test_batch_backend_reports_failed_lines(tmp_path):
    llm = BatchBackend(tmp_path, MODEL)
    with pytest.raises(BatchPending):
        llm.generate([request("a")])
    answer_file(llm.requests_path, llm.responses_path, lambda t, i: "{}",
                failing={request("a").key(MODEL)})
    with pytest.raises(LLMError, match="context too long") as caught:
        llm.generate([request("a")])
    assert not isinstance(caught.value, BatchPending)
    # Alongside a missing request, the failure comes as that request's entry.
    with pytest.raises(BatchPending) as pending:
        llm.generate([request("a"), request("b")])
    failed, waiting = pending.value.answers
    assert isinstance(failed, LLMError) and "context too long" in str(failed)
    assert waiting is None and pending.value.pending == 1
    queued = [json.loads(x)["custom_id"] for x in llm.requests_path.read_text().splitlines()]
    assert queued == [request("b").key(MODEL)]  # the failed one is not run again


def test_record_then_replay_through_the_openai_backend(tmp_path):
    path = tmp_path / "rec" / "llm.jsonl"
    with ChatServer(['{"x": 1}', '{"x": 2}']) as server:
        live = OpenAIBackend(server.model, server.base_url, timeout=5, max_concurrency=1)
        recorded = RecordingBackend(live, path).generate([request("a"), request("b")])
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["key"] for r in records] == [request(t).key("test-model") for t in "ab"]
    assert records[0]["request"]["messages"][0]["content"].startswith("a")
    assert records[0]["model"] == "test-model"

    replay = ReplayBackend(path)
    assert replay.model == "test-model" and len(replay) == 2
    replayed = replay.generate([request("b"), request("a")])
    assert [a[0].parsed for a in replayed] == [{"x": 2}, {"x": 1}]
    assert replayed[1][0] == recorded[0][0]


def test_replay_of_an_unknown_request_names_it(tmp_path):
    path = tmp_path / "llm.jsonl"
    with ChatServer(['{"x": 1}']) as server:
        live = OpenAIBackend(server.model, server.base_url, timeout=5)
        RecordingBackend(live, path).generate([request("a")])
    changed = request("a").model_copy(update={"sampling": Sampling(seed=2)})
    with pytest.raises(LLMError) as caught:
        ReplayBackend(path).generate([changed])
    message = str(caught.value)
    assert changed.key("test-model") in message
    assert "'a'" in message  # the first user-message line
    assert "record:" in caught.value.hint and not caught.value.retryable


def test_replay_of_a_missing_file_says_how_to_record(tmp_path):
    with pytest.raises(LLMError, match="no LLM recording") as caught:
        ReplayBackend(tmp_path / "none.jsonl")
    assert "record:" in caught.value.hint
