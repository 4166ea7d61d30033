"""A scripted fake teacher for tests, after simonw/llm's MockModel."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import Reply, Teacher


@dataclass
class FakeCall:
    messages: list[dict[str, str]]
    schema: dict[str, Any] | None
    temperature: float
    seed: int
    max_tokens: int


@dataclass
class FakeTeacher(Teacher):
    """A scripted teacher for tests.

    ``enqueue(*replies)`` scripts the next answers: a str (raw text), a dict (sent JSON-encoded) or an Exception
    instance (raised). With ``responder`` set, an empty queue is answered by ``responder(messages)``. Every call is
    recorded in ``history``. It reports itself as a server that enforces the schema (``server="fake"``).
    """

    name: str = "fake"
    responder: Callable[[list[dict[str, str]]], str | dict[str, Any]] | None = None
    model: str = "fake-model"
    queue: list[Any] = field(default_factory=list)
    history: list[FakeCall] = field(default_factory=list)
    server: str | None = "fake"
    enforced: str | None = "schema"

    @property
    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "base_url": None}

    def enqueue(self, *replies: str | dict[str, Any] | BaseException) -> FakeTeacher:
        self.queue.extend(replies)
        return self

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        self.history.append(FakeCall(messages, schema, temperature, seed, max_tokens))
        if self.queue:
            item = self.queue.pop(0)
        elif self.responder is not None:
            item = self.responder(messages)
        else:
            raise AssertionError(f"FakeTeacher {self.name!r} got call {len(self.history)} but has no reply queued")
        if isinstance(item, BaseException):
            raise item
        text = item if isinstance(item, str) else json.dumps(item)
        prompt_chars = sum(len(m.get("content", "")) for m in messages)
        return Reply(text=text, input_tokens=prompt_chars // 4, output_tokens=max(1, len(text) // 4))
