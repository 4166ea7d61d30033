"""Conformance servers: one stand-in per teacher server kind, each judging requests the way that server's own code
does (the module docstrings cite the repository, file and commit each rule comes from) and answering as it would.

    with VLLMServer(version="0.11.0") as server:
        ...  # point a teacher at server.url
        assert server.enforced == ["schema", ...]

Every server records ``requests`` (chat request bodies, in arrival order), ``enforced`` (per chat request: schema,
json, none or rejected) and ``exchanges`` (every HTTP exchange with its status). A request the stand-in cannot
answer faithfully gets a 501 ``{"stand_in_error": ...}`` instead of a guess.
"""

from __future__ import annotations

from .base import ENFORCED, ConformanceServer, Exchange, Reply, Verdict
from .llamacpp import LlamaCppPythonServer, LlamaCppServer
from .localai import LocalAIServer
from .ollama import OllamaServer
from .openai import OpenAIServer
from .sglang import SGLangServer
from .tgi import TGIServer
from .vllm import VLLMServer

SERVER_KINDS: dict[str, type[ConformanceServer]] = {
    "tgi": TGIServer,
    "vllm": VLLMServer,
    "llamacpp": LlamaCppServer,
    "llamacpp-python": LlamaCppPythonServer,
    "ollama": OllamaServer,
    "sglang": SGLangServer,
    "openai": OpenAIServer,
}

__all__ = [
    "ENFORCED",
    "SERVER_KINDS",
    "ConformanceServer",
    "Exchange",
    "LlamaCppPythonServer",
    "LlamaCppServer",
    "LocalAIServer",
    "OllamaServer",
    "OpenAIServer",
    "Reply",
    "SGLangServer",
    "TGIServer",
    "VLLMServer",
    "Verdict",
]
