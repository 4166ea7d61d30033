"""Stand-in for "any other OpenAI-compatible server": it accepts every chat request and enforces nothing.

What it stands for is the long tail (proxies, gateways, small self-written servers) that takes ``response_format``
and ignores it. So every chat request is answered 200 with prose (``enforced == "none"``), whatever form it carried,
and none of the detection routes of the other kinds exist: ``/info``, ``/version``, ``/props``, ``/api/version`` and
``/openapi.json`` are 404, in the OpenAI API's own 404 shape.
"""

from __future__ import annotations

import json
from typing import Any

from .base import ConformanceServer, Reply, Verdict


class OpenAIServer(ConformanceServer):
    """A generic OpenAI-compatible server that enforces nothing."""

    kind = "openai"
    default_version = ""

    def get_routes(self) -> dict[str, Any]:
        models = {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": self.started, "owned_by": "system"}],
        }
        return {"/v1/models": Reply(200, models)}

    def not_found(self, method: str, path: str) -> Reply:
        error = {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        return Reply(404, {"error": error})

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            error = {
                "message": f"We could not parse the JSON body of your request. ({exc})",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
            return None, Verdict.reject(Reply(400, {"error": error}))
        return body, Verdict("none")

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        return self.openai_completion(body, content)
