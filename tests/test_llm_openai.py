"""OpenAIBackend through the real langchain-openai client against a local scripted server."""

from __future__ import annotations

import threading

import pytest
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.messages import AIMessage
from llm_server import ChatServer, Reply

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.openai_backend import (
    OpenAIBackend, backoff_seconds, build_chat_body, build_chat_kwargs, parse_chat_result)
from nl2opt.llm.types import LLMError, LLMRequest, Message, Sampling

SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def request(text: str = "Make a plan", schema: dict | None = SCHEMA, n: int = 1,
            seed: int | None = None) -> LLMRequest:
    return LLMRequest(messages=[Message(role="system", content="You model."),
                                Message(role="user", content=text)],
                      json_schema=schema, schema_name="formulation", n=n,
                      sampling=Sampling(temperature=0.2, top_p=0.9, max_tokens=321, seed=seed))


def backend(server: ChatServer, **kwargs) -> OpenAIBackend:
    options = {"backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 5} | kwargs
    return OpenAIBackend(server.model, server.base_url, api_key="test-key", **options)


# -- pure functions -----------------------------------------------------------------

def test_build_chat_kwargs_carries_schema_and_sampling():
    kwargs = build_chat_kwargs(request(seed=7, n=3))
    assert kwargs == {
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 321, "seed": 7, "n": 3,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "formulation", "schema": SCHEMA, "strict": False}}}
    assert "response_format" not in build_chat_kwargs(request(), structured=False)
    assert "n" not in build_chat_kwargs(request(n=1))  # llama.cpp rejects n != 1


def test_schema_name_is_sanitized_for_openai():
    odd = request().model_copy(update={"schema_name": "nl2opt.formulation/1"})
    name = build_chat_kwargs(odd)["response_format"]["json_schema"]["name"]
    assert name == "nl2opt_formulation_1"


def test_parse_chat_result_reads_text_json_finish_and_usage():
    result = LLMResult(
        generations=[[ChatGeneration(message=AIMessage(content='Sure: {"x": 1}'),
                                     generation_info={"finish_reason": "stop"}),
                      ChatGeneration(message=AIMessage(content='{"x": '),
                                     generation_info={"finish_reason": "length"})]],
        llm_output={"token_usage": {"prompt_tokens": 40, "completion_tokens": 9},
                    "model_name": "served-name"})
    first, second = parse_chat_result(result, model="m", latency_seconds=0.5)
    assert first.parsed == {"x": 1} and first.finish_reason == "stop"
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (40, 9)
    assert second.parsed is None and second.finish_reason == "length"
    assert second.usage.total_tokens == 0  # the call's usage counts once
    assert first.model == "served-name" and first.latency_seconds == 0.5


def test_backoff_grows_and_is_capped():
    delays = [backoff_seconds(k, base=1.0, cap=8.0) for k in range(6)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[3] <= 8.0
    assert all(d <= 8.0 for d in delays)


# -- against the server ----------------------------------------------------------

def test_structured_request_payload_and_parsed_reply():
    reply = Reply(text='{"x": 42}', usage={"prompt_tokens": 50, "completion_tokens": 7})
    with ChatServer([reply]) as server:
        [[response]] = backend(server).generate([request(seed=3)])
        body = server.requests[0]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "formulation", "schema": SCHEMA, "strict": False}}
    assert body["messages"] == [{"role": "system", "content": "You model."},
                                {"role": "user", "content": "Make a plan"}]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        0.2, 0.9, 321, 3)
    assert body["model"] == server.model and body["stream"] is False
    expected = build_chat_body(request(seed=3), server.model)
    assert {k: body[k] for k in expected} == expected  # the batch file holds the same
    assert response.text == '{"x": 42}' and response.parsed == {"x": 42}
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (50, 7)
    assert response.latency_seconds > 0


def test_truncated_and_malformed_replies_are_reported_not_raised():
    with ChatServer([Reply(text='{"x": 4', finish_reason="length"), "no json here"]) as s:
        answers = backend(s, max_concurrency=1).generate([request("a"), request("b")])
    assert answers[0][0].finish_reason == "length" and answers[0][0].parsed is None
    assert answers[1][0].text == "no json here" and answers[1][0].parsed is None


def test_retries_429_and_500_then_succeeds():
    with ChatServer([Reply(status=429), Reply(status=500), '{"x": 1}']) as server:
        [[response]] = backend(server).generate([request()])
        assert len(server.requests) == 3
    assert response.parsed == {"x": 1}


def test_gives_up_after_retries_with_retryable_error():
    with ChatServer([Reply(status=503)] * 3) as server:
        with pytest.raises(LLMError) as caught:
            backend(server, retries=2).generate([request()])
        assert len(server.requests) == 3
    assert caught.value.retryable and "503" in str(caught.value)


def test_bad_request_is_not_retried_and_has_a_hint():
    with ChatServer([Reply(status=400, error="prompt too long for this model")]) as server:
        with pytest.raises(LLMError) as caught:
            backend(server).generate([request()])
        assert len(server.requests) == 1
    assert not caught.value.retryable
    assert "prompt too long" in str(caught.value) and caught.value.hint


def test_unknown_model_404_names_the_model_and_url():
    with ChatServer([Reply(status=404, error="model not found")]) as server:
        with pytest.raises(LLMError) as caught:
            backend(server).generate([request()])
    assert not caught.value.retryable
    assert server.model in caught.value.hint and "/models" in caught.value.hint


def test_falls_back_to_plain_text_when_response_format_is_rejected():
    rejection = Reply(status=400, error="Unsupported parameter: response_format json_schema")
    with ChatServer([rejection, 'Here you go: ```json\n{"x": 5}\n```', '{"x": 6}']) as server:
        llm = backend(server)
        [[first]] = llm.generate([request()])
        [[second]] = llm.generate([request("again")])
        sent = server.requests
    assert first.parsed == {"x": 5} and second.parsed == {"x": 6}
    assert "response_format" in sent[0]
    assert "response_format" not in sent[1] and "response_format" not in sent[2]
    assert llm.response_format_rejected


def test_concurrent_requests_keep_their_order():
    # Overlap is shown by the server holding two requests at once, not by timing: each
    # handler waits until a second request is in flight (a client that sends one at a
    # time would make every request wait the full 10 s and leave the peak at 1).
    lock, active, peak = threading.Lock(), [0], [0]
    two_in_flight = threading.Event()

    def echo(body: dict) -> Reply:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            if active[0] >= 2:
                two_in_flight.set()
        two_in_flight.wait(timeout=10)
        with lock:
            active[0] -= 1
        text = body["messages"][-1]["content"]
        return Reply(text=f'{{"x": {int(text)}}}', delay=0.02 * (5 - int(text)))

    with ChatServer(echo) as server:
        answers = backend(server, max_concurrency=5).generate(
            [request(str(i)) for i in range(5)])
    assert [a[0].parsed for a in answers] == [{"x": i} for i in range(5)]
    assert peak[0] >= 2  # the calls overlapped


def test_n_samples_in_one_call():
    with ChatServer([Reply(texts=['{"x": 1}', '{"x": 2}', '{"x": 3}'])]) as server:
        [samples] = backend(server).generate([request(n=3)])
        assert server.requests[0]["n"] == 3 and len(server.requests) == 1
    assert [s.parsed for s in samples] == [{"x": 1}, {"x": 2}, {"x": 3}]


def test_extra_body_fields_reach_the_server():
    extra = {"chat_template_kwargs": {"enable_thinking": False}}
    with ChatServer(['{"x": 1}']) as server:
        backend(server, extra_body=extra).generate([request()])
        body = server.requests[0]
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["response_format"]["type"] == "json_schema"


def test_n_samples_when_the_server_ignores_n():
    # Ollama and llama.cpp answer one choice whatever n says.
    with ChatServer([Reply(texts=['{"x": 1}']), Reply(texts=['{"x": 2}'])]) as server:
        [samples] = backend(server).generate([request(n=2, seed=10)])
        seeds = [body["seed"] for body in server.requests]
    assert [s.parsed for s in samples] == [{"x": 1}, {"x": 2}]
    assert seeds == [10, 11]  # the extra sample is not the same draw again


def test_timeout_is_retryable_and_retried():
    with ChatServer([Reply(text='{"x": 0}', delay=1.0), '{"x": 9}']) as server:
        [[response]] = backend(server, timeout=0.3).generate([request()])
    assert response.parsed == {"x": 9}
    with ChatServer([Reply(text="{}", delay=1.0)]) as server:
        with pytest.raises(LLMError) as caught:
            backend(server, timeout=0.3, retries=0).generate([request()])
    assert caught.value.retryable and "in time" in str(caught.value)


def test_no_server_is_a_retryable_error_with_a_start_hint():
    with ChatServer([]) as server:
        url = server.base_url  # the port is free again once the server stops
    llm = OpenAIBackend("Qwen/Qwen3-8B", url, timeout=1, retries=0)
    with pytest.raises(LLMError) as caught:
        llm.generate([request()])
    assert caught.value.retryable
    assert "vllm serve Qwen/Qwen3-8B" in caught.value.hint and url in caught.value.hint


def test_generate_works_inside_a_running_event_loop():
    import asyncio

    async def inside() -> list:
        with ChatServer(['{"x": 3}']) as server:
            return backend(server).generate([request()])

    assert asyncio.run(inside())[0][0].parsed == {"x": 3}


def test_models_endpoint_lists_the_model():
    import json
    import urllib.request

    with ChatServer([], model="served") as server:
        with urllib.request.urlopen(server.base_url + "/models") as answer:
            listing = json.load(answer)
    assert [m["id"] for m in listing["data"]] == ["served"]


# -- extract_json -------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Here it is:\n```json\n{"a": [1, 2]}\n```\nDone.', {"a": [1, 2]}),
    ('```\n{"a": 2}\n```', {"a": 2}),
    ('The model is {"a": {"b": 3}} as asked.', {"a": {"b": 3}}),
    ('<think>Maybe {x} or {"a": 0}? No.</think>\n{"a": 4}', {"a": 4}),
    ('thinking without the opening tag {"a": 0}</think>{"a": 5}', {"a": 5}),
    ('{"expr": "sum(x[i] for i in {1,2})", "note": "a } brace \\" quote"}',
     {"expr": "sum(x[i] for i in {1,2})", "note": 'a } brace " quote'}),
    ('first {broken, then {"a": 6}', {"a": 6}),
    ('{not json {"a": 7}}', {"a": 7}),
])
def test_extract_json_finds_the_object(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", None, "no braces", "{", '{"a": 1', "[1, 2]",
                                  "{'a': 1}", "```json\n{\"a\": }\n```", "}{"])
def test_extract_json_returns_none_for_garbage(text):
    assert extract_json(text) is None


def test_extract_json_never_evaluates():
    assert extract_json('{"a": __import__("os").system("echo hi")}') is None
