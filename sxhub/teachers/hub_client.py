"""huggingface_hub's side of a teacher: which hosts are Hugging Face's, the HF_HUB_OFFLINE rule, the key each
``base_url`` is sent, and the client for a server of the user's own (:func:`own_server_client`). Used by
:mod:`sxhub.teachers.inference_client`.
"""

from __future__ import annotations

import functools
import os
from typing import Any
from urllib.parse import urlparse

HF_HOST_SUFFIXES = ("huggingface.co", "hf.co", "huggingface.cloud", "hf.space")


def is_hf_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return any(host == s or host.endswith("." + s) for s in HF_HOST_SUFFIXES)


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def api_key_for(base_url: str) -> str | None:
    """The key sent to ``base_url``: the HF token for Hugging Face hosts (None lets huggingface_hub find it)."""
    if is_hf_host(base_url):
        return None
    return os.environ.get("SXHUB_API_KEY", "sxhub-no-key")


@functools.cache
def own_server_client() -> Any:
    """huggingface_hub's ``AsyncInferenceClient`` for a ``base_url`` not on a Hugging Face host: the same requests
    (URL, body, headers, errors), built by huggingface_hub itself, sent by its own session less the request hook that
    refuses every request under HF_HUB_OFFLINE whatever the host (``hf_request_event_hook``, utils/_http.py;
    it also adds a request id for Hub support). HF_HUB_OFFLINE means no traffic to the Hub, and a user's server is
    not the Hub."""
    from huggingface_hub import AsyncInferenceClient, get_async_session
    from huggingface_hub.utils._http import async_hf_request_event_hook

    class OwnServerClient(AsyncInferenceClient):
        async def _get_async_client(self) -> Any:
            if self._async_client is None:
                session = get_async_session()
                hooks = session.event_hooks
                kept = [hook for hook in hooks["request"] if hook is not async_hf_request_event_hook]
                session.event_hooks = {**hooks, "request": kept}
                self._async_client = await self.exit_stack.enter_async_context(session)
            return self._async_client

    return OwnServerClient


def _hf_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()
