"""Requests sxhub sends to a server of its own on this machine go there directly, whatever proxy the environment sets.

urllib, httpx and huggingface_hub's client send a request for 127.0.0.1 to ``HTTP_PROXY`` unless ``NO_PROXY`` names
the host: none of them makes an exception for loopback (``urllib.request.proxy_bypass_environment`` reads
``no_proxy`` only). Behind a company proxy that set ``HTTP_PROXY`` and no ``NO_PROXY``:

* the embedded teacher's start-up check and the run's requests went to the proxy, which cannot reach this machine's
  own server: ``annotate`` sat at 0% for minutes;
* ``sxhub space`` and ``sxhub review`` stopped with "ConnectError: [Errno 111] Connection refused": gradio's
  ``launch`` checks its own URL with httpx before it returns.

Only the servers sxhub starts itself are concerned; a teacher's ``base_url`` keeps the user's proxy settings (other
loopback URLs are the user's to list in ``NO_PROXY``, as for curl and requests).
"""

from __future__ import annotations

import os

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def bypass_proxies(*hosts: str) -> None:
    """Add 127.0.0.1, localhost and ``hosts`` (an address sxhub serves on) to ``NO_PROXY`` and ``no_proxy``, where a
    proxy is set in the environment; nothing changes where none is. Call it before the client that reads the
    environment is made (httpx reads it once per client)."""
    if not any(os.environ.get(name) for name in PROXY_VARIABLES):
        return
    wanted = [*LOOPBACK_HOSTS, *(h.strip("[]") for h in hosts if h and h.strip("[]") not in ("0.0.0.0", "::"))]
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e.strip() for e in os.environ.get(name, "").split(",") if e.strip()]
        missing = [host for host in dict.fromkeys(wanted) if host not in entries]
        if missing:
            os.environ[name] = ",".join(entries + missing)
