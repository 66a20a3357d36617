"""A scripted fake LLM that ships with the package, for tests and examples.

It answers requests with the given replies in order (strings are returned as
text; dicts are serialized as JSON), and records the requests it received so
tests can assert on the exact prompts.
"""

from __future__ import annotations

import json

from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage


class ScriptedBackend:
    name = "scripted"

    def __init__(self, replies: list, model: str = "scripted") -> None:
        self.model = model
        self._replies = list(replies)
        self.requests: list[LLMRequest] = []

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        answers = []
        for request in requests:
            self.requests.append(request)
            answers.append([self._next(request) for _ in range(request.n)])
        return answers

    def _next(self, request: LLMRequest) -> LLMResponse:
        if not self._replies:
            raise LLMError("the scripted LLM has no replies left",
                           hint=f"it was asked: {request.messages[-1].content[:120]!r}")
        reply = self._replies.pop(0)
        if isinstance(reply, LLMResponse):
            return reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        # No token counts: a scripted reply has none, and inventing some would mislead.
        return LLMResponse(text=text, finish_reason="stop", model=self.model, usage=Usage())
