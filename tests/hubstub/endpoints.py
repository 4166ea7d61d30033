"""The Inference Endpoints API in the Hub stand-in (``<stub>/endpoints-api/v2``, see ``ENDPOINTS_PREFIX``).

Routes and payloads as huggingface_hub 2.4 calls them (``hf_api.py``: ``create_inference_endpoint``,
``get_inference_endpoint``, ``list_inference_endpoints``, ``pause_`` / ``resume_`` / ``scale_to_zero_`` /
``delete_inference_endpoint``, ``list_inference_endpoints_hardware``; ``_inference_endpoints.py``:
``InferenceEndpoint._populate_from_raw`` reads ``name``, ``model.{repository,framework,revision,task}``,
``status.{state,url,createdAt,updatedAt}``, ``healthRoute`` and ``type``; ``InferenceEndpointHardware.from_raw``
reads ``vendors[].regions[].computes[]``), all under ``constants.INFERENCE_ENDPOINTS_ENDPOINT``:

    POST   /endpoint/{namespace}                    create (400 when the name is taken)
    GET    /endpoint/{namespace}                    list: {"items": [...]}
    GET    /endpoint/{namespace}/{name}             read (404 when absent)
    DELETE /endpoint/{namespace}/{name}             delete
    POST   /endpoint/{namespace}/{name}/pause       state "paused", no URL
    POST   /endpoint/{namespace}/{name}/resume      "initializing", then "running"; 400 "already running"
    POST   /endpoint/{namespace}/{name}/scale-to-zero   state "scaledToZero"
    GET    /provider/{namespace}                    the hardware catalogue with prices

A created or resumed endpoint runs after ``Endpoints.warmup`` reads of its status; its URL is then
``Endpoints.serve_url`` (a test points it at a TGI stand-in, whose ``/health`` the client's ``wait()`` calls).
Every request needs a token, as on the real API.

Refusals, each answered the way huggingface_hub 2.4.0 (as installed) reads them (``utils/_http.py``
``hf_raise_for_status``: an ``HfHubHTTPError`` whose ``server_message`` is the body's ``error``):

* 401 for a missing or ``invalid...`` token; 403 for a write (create, pause, resume, scale-to-zero, delete) with a
  read-only token (``read...``) or in an organisation where the user has the read role (``read_only``): the Hub's
  answer to "no write permission on the namespace" (``hf_api.py`` ``create_repo``: "403 -> if no write permission
  on the namespace");
* 404 for a namespace that is neither the user's nor one of its organisations (``namespaces``);
* 402 Payment Required for a create or resume in a namespace without a payment method (``unbilled``): Inference
  Endpoints need "an active subscription and credits" (hf-endpoints-documentation ``docs/source/support/pricing.md``,
  commit 11293966f4f80efc022de4cb684ebabc76c43319), and ``hf_api.py`` ``create_repo`` names 402 "payment required".

A scaled-to-zero endpoint wakes on the next request to its URL (``_inference_endpoints.py``
``InferenceEndpoint.scale_to_zero``: "It will be resumed on the next request to it, with a cold start delay. This is
different from pausing [...] which would require a manual resume"; hf-endpoints-documentation
``docs/source/guides/autoscaling.md``, commit f4ed1eb42202e6bb39db5987622f5a6ddcbf54e6: the proxy answers 503 while
the new replica initializes): here, once ``served`` (the stand-in behind ``serve_url``) has had a request since the
endpoint scaled to zero, its next status read says "initializing", then it runs as a resumed one. A paused one
never wakes that way: only ``/resume`` starts it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .store import HubError

ENDPOINTS_PREFIX = ["endpoints-api", "v2"]
HARDWARE = [  # vendor, region, accelerator, instanceType, instanceSize, pricePerHour
    ("aws", "us-east-1", "gpu", "nvidia-l4", "x1", 0.8),
    ("aws", "us-east-1", "gpu", "nvidia-a10g", "x1", 1.0),
    ("aws", "us-east-1", "cpu", "intel-spr", "x2", 0.067),
]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class Endpoints:
    """The endpoints the stand-in holds, by (namespace, name), and what a running one serves."""

    serve_url: str | None = None
    served: Any = None  # the conformance stand-in at serve_url: a request to it wakes a scaled-to-zero endpoint
    warmup: int = 1
    namespaces: tuple[str, ...] = ()  # the user's and its organisations' (set by the Hub stand-in): others are 404
    read_only: tuple[str, ...] = ()  # organisations where the user has the read role: writes there are 403
    unbilled: set[str] = field(default_factory=set)  # namespaces without a payment method: create/resume are 402
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _reads: dict[tuple[str, str], int] = field(default_factory=dict)
    _asleep_at: dict[tuple[str, str], int] = field(default_factory=dict)  # requests `served` had when it scaled to 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def state(self, name: str, namespace: str) -> str:
        return str(self.items[(namespace, name)]["status"]["state"])

    def set_state(self, name: str, namespace: str, state: str) -> None:
        """Put an endpoint in ``state`` (a test scaling one to zero behind sxhub's back, say)."""
        with self._lock:
            self._set(self.items[(namespace, name)], state)

    def _set(self, raw: dict[str, Any], state: str) -> None:
        raw["status"]["state"] = state
        raw["status"]["updatedAt"] = _now()
        raw["status"]["url"] = self.serve_url if state in ("running", "scaledToZero") else None
        self._reads[(raw["_namespace"], raw["name"])] = 0
        if state == "scaledToZero":
            self._asleep_at[(raw["_namespace"], raw["name"])] = self._served()

    def _served(self) -> int:
        return len(self.served.exchanges) if self.served is not None else 0

    def _public(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in raw.items() if not k.startswith("_")}

    def route(self, handler: Any, seg: list[str]) -> None:
        """Serve ``seg`` (the path after ENDPOINTS_PREFIX) for the Hub stand-in's request ``handler``."""
        method = handler.command
        handler.token(required=True, write=method != "GET")
        self.calls.append(f"{method} /{'/'.join(seg)}")
        if seg[:1] == ["provider"] and len(seg) == 2 and method == "GET":
            handler.send_json(self._catalogue())
            return
        if seg[:1] != ["endpoint"] or len(seg) < 2:
            raise handler.no_route()
        namespace, rest = seg[1], seg[2:]
        self._check(namespace, method, rest)
        with self._lock:
            if not rest and method == "POST":
                handler.send_json(self._create(namespace, handler.json_body()))
            elif not rest and method == "GET":
                items = [self._public(r) for (ns, _), r in self.items.items() if ns == namespace]
                handler.send_json({"items": items})
            elif len(rest) == 1 and method == "GET":
                handler.send_json(self._read(namespace, rest[0]))
            elif len(rest) == 1 and method == "DELETE":
                self._get(namespace, rest[0])
                del self.items[(namespace, rest[0])]
                handler.send_json({})
            elif len(rest) == 2 and method == "POST" and rest[1] in ("pause", "resume", "scale-to-zero"):
                handler.send_json(self._action(namespace, rest[0], rest[1]))
            else:
                raise handler.no_route()

    def _check(self, namespace: str, method: str, rest: list[str]) -> None:
        """The namespace's refusals: unknown (404), read role on a write (403), no payment method (402)."""
        if self.namespaces and namespace not in self.namespaces + self.read_only:
            raise HubError(404, f"Namespace {namespace} not found")
        if method != "GET" and namespace in self.read_only:
            raise HubError(403, f"You don't have the rights to manage Inference Endpoints in {namespace}")
        starts = (not rest and method == "POST") or (len(rest) == 2 and rest[1] == "resume")
        if starts and namespace in self.unbilled:
            raise HubError(402, f"No payment method on {namespace}: add one to use Inference Endpoints")

    def _get(self, namespace: str, name: str) -> dict[str, Any]:
        raw = self.items.get((namespace, name))
        if raw is None:
            raise HubError(404, f"Endpoint {name} not found in {namespace}")
        return raw

    def _create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name") or ""
        if (namespace, name) in self.items:
            raise HubError(400, f"Endpoint name {name} is already taken")
        for key in ("compute", "model", "provider", "type"):
            if key not in body:
                raise HubError(400, f"missing field {key}")
        image = body["model"].get("image") or {}
        custom = image.get("custom") or {}
        raw = {
            **body,
            "model": {"task": None, **body["model"]},
            "healthRoute": custom.get("healthRoute", "/health"),
            "status": {"state": "pending", "url": None, "createdAt": _now(), "updatedAt": _now()},
            "_namespace": namespace,
        }
        self.items[(namespace, name)] = raw
        self._reads[(namespace, name)] = 0
        return self._public(raw)

    def _read(self, namespace: str, name: str) -> dict[str, Any]:
        raw = self._get(namespace, name)
        key = (namespace, name)
        if raw["status"]["state"] == "scaledToZero" and self._served() > self._asleep_at.get(key, 0):
            self._set(raw, "initializing")  # a request reached its URL: the cold start
        if raw["status"]["state"] in ("pending", "initializing"):
            key = (namespace, name)
            self._reads[key] = self._reads.get(key, 0) + 1
            if self._reads[key] >= self.warmup:
                self._set(raw, "running")
        return self._public(raw)

    def _action(self, namespace: str, name: str, action: str) -> dict[str, Any]:
        raw = self._get(namespace, name)
        state = raw["status"]["state"]
        if action == "pause":
            self._set(raw, "paused")
        elif action == "scale-to-zero":
            self._set(raw, "scaledToZero")
        elif state == "running":
            raise HubError(400, "Endpoint is already running")
        else:
            self._set(raw, "initializing")
        return self._public(raw)

    def _catalogue(self) -> dict[str, Any]:
        vendors: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for vendor, region, accelerator, itype, isize, price in HARDWARE:
            vendors.setdefault(vendor, {}).setdefault(region, []).append(
                {
                    "id": f"{vendor}-{region}-{itype}-{isize}",
                    "accelerator": accelerator,
                    "instanceType": itype,
                    "instanceSize": isize,
                    "architecture": "x86",
                    "numAccelerators": 1,
                    "numCpus": 4,
                    "memoryGb": 16,
                    "gpuMemoryGb": 24 if accelerator == "gpu" else None,
                    "pricePerHour": price,
                    "status": "available",
                    "quota": {"maxAccelerators": 4, "usedAccelerators": 0},
                }
            )
        return {
            "vendors": [
                {"name": v, "regions": [{"name": r, "computes": c} for r, c in regions.items()]}
                for v, regions in vendors.items()
            ]
        }
