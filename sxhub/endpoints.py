"""The teacher on a managed Hugging Face Inference Endpoint (TGI), paused when nobody labels.

``sxhub endpoint up MODEL`` creates a TGI endpoint with :meth:`huggingface_hub.HfApi.create_inference_endpoint`
(scaled to zero when idle by default), waits until it answers and prints its URL; ``status``, ``pause``,
``resume`` and ``delete`` do what they say. A task spec names an endpoint instead of a URL::

    teachers:
      - endpoint: fin-teacher          # resolved to its URL and engine; woken first if paused or at zero

:func:`ready` resumes a paused endpoint (a scaled-to-zero one is woken by a request to its URL) and waits until it
runs; :func:`resolve` turns a teacher spec that names an endpoint into one with its ``base_url`` (the teachers factory
calls it); :func:`hourly_price` reads the endpoint's hardware price from the provider catalogue, so the run's ledger
can say what the GPU cost.
Every call goes through huggingface_hub (``HF_TOKEN``, ``HF_ENDPOINT``); errors become one line naming the fix.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import SxhubError, UserError

if TYPE_CHECKING:
    from huggingface_hub import HfApi, InferenceEndpoint

    from .spec import TeacherSpec

logger = logging.getLogger(__name__)

TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.6"
DEFAULT_TIMEOUT = 1800.0  # seconds to wait for an endpoint to run (a cold GPU start takes minutes)
RUNNING = "running"
PAUSED = "paused"  # woken only by /resume (huggingface_hub InferenceEndpoint.pause: "would require a manual resume")
SCALED_TO_ZERO = "scaledToZero"  # woken by a request to its URL (InferenceEndpoint.scale_to_zero: "resumed on the
# next request to it, with a cold start delay"); hf-endpoints-documentation guides/autoscaling.md: 503 meanwhile
FAILED = ("failed", "updateFailed")  # InferenceEndpoint.wait() raises at once on both


class EndpointError(SxhubError):
    """An Inference Endpoint could not be created, found or started."""


@dataclass(frozen=True)
class Hardware:
    """Where and on what an endpoint runs (``sxhub endpoint up --vendor/--region/--instance/--size``)."""

    vendor: str = "aws"
    region: str = "us-east-1"
    accelerator: str = "gpu"
    instance_type: str = "nvidia-l4"
    instance_size: str = "x1"


def _api(token: str | None = None) -> HfApi:
    from huggingface_hub import HfApi

    from . import __version__

    return HfApi(token=token, library_name="sxhub", library_version=__version__)


def _errors(action: str, name: str, namespace: str | None = None, *, created: bool = False) -> Any:
    """A context manager turning huggingface_hub errors into one EndpointError line; ``created``: around the wait
    after a create, whose status reads (``InferenceEndpoint.wait`` -> ``fetch``) may be refused too."""
    from httpx2 import RequestError  # huggingface_hub's client: what it passes on when the Hub cannot be reached
    from huggingface_hub.errors import (
        HfHubHTTPError,
        InferenceEndpointError,
        InferenceEndpointTimeoutError,
        LocalTokenNotFoundError,
    )

    def created_line(why: str) -> str:  # a status read of the wait after create failed: the endpoint exists
        return (
            f"endpoint {name!r} was created, but reading its state while waiting for it to run failed ({why}); it "
            f"goes on starting and is billed once it runs: check it with `sxhub endpoint status "
            f"{cli_name(name, namespace)}`, or stop it with `sxhub endpoint pause {cli_name(name, namespace)}`."
        )

    @contextlib.contextmanager
    def wrap() -> Any:
        try:
            yield
        except LocalTokenNotFoundError as exc:
            raise UserError(
                f"no Hugging Face token to {action} endpoint {name!r}: run `hf auth login`, or set HF_TOKEN to a token "
                "with Inference Endpoints rights."
            ) from exc
        except InferenceEndpointTimeoutError as exc:
            # the endpoint goes on starting: the line said "retry", and a retried `up` stopped at "name is taken"
            raise EndpointError(
                f"endpoint {name!r} {'was created but ' if action == 'create' else ''}did not run within the time "
                f"allowed{'' if action == 'create' else f' while trying to {action} it'}; it goes on starting (cold "
                f"GPU starts can take minutes) and is billed once it runs: check it with `sxhub endpoint status "
                f"{cli_name(name, namespace)}`, or stop it with `sxhub endpoint pause {cli_name(name, namespace)}`."
            ) from exc
        except InferenceEndpointError as exc:
            again = (
                f", then `sxhub endpoint delete {cli_name(name, namespace)}` before creating it again (the name stays "
                "taken)"
                if action == "create"
                else ""
            )
            raise EndpointError(
                f"endpoint {name!r} failed to {action}: {str(exc).rstrip('.')}; see its logs on the Hub{again}."
            ) from exc
        except HfHubHTTPError as exc:
            if created and _status(exc) != 404:  # a read refused (a 503, say): "could not create ... retry" was
                # wrong, the endpoint exists and goes on starting, and the retried `up` stopped at "name is taken"
                raise EndpointError(created_line(f"HTTP {_status(exc)}: {_detail(exc)}")) from exc
            # a 404 while waiting: deleted meanwhile (not "no namespace to create it in", the 404 of a create)
            raise _refusal(exc, "read" if created else action, name, namespace) from exc
        except RequestError as exc:  # no answer at all (network, DNS, proxy): was the last resort's "ConnectError:"
            why = f"{type(exc).__name__}: {exc}"
            if created:
                raise EndpointError(created_line(why)) from exc
            raise EndpointError(
                f"could not reach the Hub to {action} endpoint {name!r} ({why}); check the network (and HF_ENDPOINT, "
                "a proxy's HTTPS_PROXY), then run the same command again."
            ) from exc

    return wrap()


def _status(exc: Any) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _detail(exc: Any) -> str:
    """The Hub's reason: huggingface_hub's message starts with blank lines and "Bad request:", and its first line
    alone said "could not create endpoint 'x': Bad request:" and nothing about why."""
    return (exc.server_message or "").strip() or next(
        (line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__
    )


BILLING_URL = "https://huggingface.co/settings/billing"


def _refusal(exc: Any, action: str, name: str, namespace: str | None) -> SxhubError:
    """One line for an HTTP error of the Inference Endpoints API, by status, naming the fix for that refusal.

    huggingface_hub (2.4.0, ``utils/_http.py`` ``hf_raise_for_status``) raises an ``HfHubHTTPError`` carrying the
    response and the server's reason (``server_message``); it gives no status of this API its own class. Every 4xx
    but 429 said "pass another --name, or change the option it names", which was wrong for a missing payment method
    (402: Inference Endpoints need "an active subscription and credits", hf-endpoints-documentation
    ``docs/source/support/pricing.md``; ``hf_api.py`` ``create_repo`` reads 402 as "payment required"), for a token
    without write access to the namespace (403: "no write permission on the namespace", same function) and for a
    404 on create, where there is no endpoint yet and the namespace is what was not found.
    """
    status, detail = _status(exc), _detail(exc)
    where = f"namespace {namespace!r}" if namespace else "your namespace"
    if status == 404 and action == "create":  # POST /endpoint/{namespace}: there is no endpoint to miss yet
        return UserError(
            f"the Hub found no {where} to create endpoint {name!r} in (HTTP 404: {detail}); pass --namespace with "
            "your user name or an organisation you are a member of."
        )
    if status == 404:
        return UserError(
            f"no Inference Endpoint named {name!r} in {where}; create it with `sxhub endpoint up MODEL --name "
            f"{name}{f' --namespace {namespace}' if namespace else ''}` or check the name (and --namespace)."
        )
    if status == 401:
        return UserError(
            f"the Hub did not accept the token to {action} endpoint {name!r} (HTTP 401); run `hf auth login`, or "
            "set HF_TOKEN to a valid token with Inference Endpoints rights."
        )
    if status == 402:
        org = (
            f", or https://huggingface.co/organizations/{namespace}/settings/billing if it is an organisation"
            if namespace
            else ""
        )
        return UserError(
            f"the Hub refused to {action} endpoint {name!r}: payment required (HTTP 402: {detail}); add a payment "
            f"method or credits for {repr(namespace) if namespace else 'your account'} at {BILLING_URL}{org}, then "
            "rerun."
        )
    if status == 403:
        return UserError(
            f"not allowed to {action} endpoint {name!r} (HTTP 403: {detail}); set HF_TOKEN to a token with "
            f"{'read' if action == 'read' else 'write'} access to "
            f"{repr(namespace) if namespace else 'your namespace'} (a fine-grained token needs its Inference "
            "Endpoints permissions)."
        )
    if status == 409:
        return UserError(
            f"the Hub refused to {action} endpoint {name!r} (HTTP 409: {detail}); "
            + (
                f"the name is taken: pass another --name, or use that endpoint (`sxhub endpoint status "
                f"{cli_name(name, namespace)}`)."
                if action == "create"
                else f"check its state with `sxhub endpoint status {cli_name(name, namespace)}`."
            )
        )
    if status is not None and 400 <= status < 500 and status != 429:  # the request's: options or name
        fix = (
            "pass another --name, or change the option it names"
            if action == "create"
            else f"check it with `sxhub endpoint status {cli_name(name, namespace)}`"
        )
        return UserError(f"the Hub refused to {action} endpoint {name!r} (HTTP {status}: {detail}); {fix}.")
    return EndpointError(f"could not {action} endpoint {name!r} (HTTP {status}: {detail}); retry in a while.")


def cli_name(name: str, namespace: str | None) -> str:
    """NAME (and its ``--namespace``) as ``sxhub endpoint pause|status|delete`` take them."""
    return f"{name} --namespace {namespace}" if namespace else name


def default_name(model: str) -> str:
    """An endpoint name from a model id: lower case, dashes, at most 32 characters (the API's limit)."""
    import re

    base = re.sub(r"[^a-z0-9-]+", "-", model.split("/")[-1].lower()).strip("-") or "teacher"
    return f"sxhub-{base}"[:32].rstrip("-")


def up(
    model: str,
    *,
    name: str | None = None,
    hardware: Hardware = Hardware(),
    min_replicas: int = 0,
    max_replicas: int = 1,
    scale_to_zero_timeout: int = 15,
    image: str = TGI_IMAGE,
    namespace: str | None = None,
    token: str | None = None,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    refresh_every: float = 5.0,
) -> InferenceEndpoint:
    """Create a TGI endpoint serving ``model`` and (with ``wait``) return it once it runs."""
    if min_replicas < 0 or max_replicas < max(1, min_replicas):
        raise UserError(
            f"--min-replicas {min_replicas} / --max-replicas {max_replicas}: need 0 <= min <= max and max >= 1."
        )
    name = name or default_name(model)
    import re

    from .spec import ENDPOINT_NAME

    if not re.fullmatch(ENDPOINT_NAME, name):  # the endpoint would exist, and no task spec could name it
        raise UserError(
            f"--name {name!r} is not a name a task spec can use for the endpoint; pass one of letters, digits, '-', "
            "'.' and '_' that starts with a letter or digit, e.g. --name " + default_name(name) + "."
        )
    with _errors("create", name, namespace):
        endpoint = _api(token).create_inference_endpoint(
            name,
            repository=model,
            framework="pytorch",
            task="text-generation",
            accelerator=hardware.accelerator,
            vendor=hardware.vendor,
            region=hardware.region,
            instance_type=hardware.instance_type,
            instance_size=hardware.instance_size,
            min_replica=min_replicas,
            max_replica=max_replicas,
            scale_to_zero_timeout=scale_to_zero_timeout if min_replicas == 0 else None,
            custom_image={"healthRoute": "/health", "url": image},
            env={"MODEL_ID": "/repository"},
            type="authenticated",
            namespace=namespace,
        )
    if wait:
        with (
            _errors("create", name, namespace, created=True),
            starting(name, namespace, "was created and is starting"),
        ):
            endpoint.wait(timeout=int(timeout), refresh_every=refresh_every)  # type: ignore[arg-type]
    return endpoint


@contextlib.contextmanager
def starting(name: str, namespace: str | None, state: str) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) while waiting for endpoint ``name`` to run: the interruption line says that it goes on
    starting, and is billed once it runs, and how to stop it. It said "nothing half-written is left ... a rerun
    starts over", and a rerun of `up` stopped at "name is taken" while the endpoint kept running."""
    try:
        yield
    except KeyboardInterrupt as exc:
        exc.sxhub_left = (  # type: ignore[attr-defined]
            f"endpoint {name!r} {state} (billed once it runs): stop it with `sxhub endpoint pause "
            f"{cli_name(name, namespace)}`"
        )
        raise


def get(name: str, *, namespace: str | None = None, token: str | None = None) -> InferenceEndpoint:
    with _errors("read", name, namespace):
        return _api(token).get_inference_endpoint(name, namespace=namespace)


def pause(name: str, *, namespace: str | None = None, token: str | None = None) -> InferenceEndpoint:
    with _errors("pause", name, namespace):
        return _api(token).pause_inference_endpoint(name, namespace=namespace)


def resume(
    name: str,
    *,
    namespace: str | None = None,
    token: str | None = None,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    refresh_every: float = 5.0,
) -> InferenceEndpoint:
    with _errors("resume", name, namespace):
        api = _api(token)
        endpoint = api.get_inference_endpoint(name, namespace=namespace)
        if endpoint.status == SCALED_TO_ZERO and endpoint.url:  # /resume is for paused ones: a request wakes it
            knock(endpoint, token=token)
        else:
            endpoint = api.resume_inference_endpoint(name, namespace=namespace, running_ok=True)
        if wait:
            with starting(name, namespace, "was resumed and is starting"):
                endpoint.wait(timeout=int(timeout), refresh_every=refresh_every)  # type: ignore[arg-type]
    return endpoint


def knock(endpoint: InferenceEndpoint, *, token: str | None = None) -> None:
    """One request to a scaled-to-zero endpoint's health route: what wakes it (its proxy answers 503 while the
    replica starts; ``wait()`` then follows it to running). ``resume`` and a run POSTed /resume instead, which
    huggingface_hub keeps for paused endpoints. The answer is not read: the wait that follows decides."""
    from huggingface_hub.utils import build_hf_headers, get_session

    from . import __version__

    url = f"{(endpoint.url or '').rstrip('/')}/{endpoint.health_route.lstrip('/')}"
    headers = build_hf_headers(token=token, library_name="sxhub", library_version=__version__)
    try:
        response = get_session().get(url, headers=headers, timeout=30)
        logger.debug("wake-up request to %s: HTTP %s", url, response.status_code)
    except Exception as exc:  # a cold proxy may drop it: the wait that follows times out with its own line
        logger.debug("wake-up request to %s failed: %s", url, exc)


def delete(name: str, *, namespace: str | None = None, token: str | None = None) -> None:
    with _errors("delete", name, namespace):
        _api(token).delete_inference_endpoint(name, namespace=namespace)


def refresh_seconds() -> float:
    """Seconds between two status reads while waiting (``$SXHUB_ENDPOINT_REFRESH``, default 5)."""
    return float(os.environ.get("SXHUB_ENDPOINT_REFRESH", 5))


def ready(
    name: str,
    *,
    namespace: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    refresh_every: float | None = None,
) -> InferenceEndpoint:
    """The endpoint, running: resumed first when paused, woken by a request when scaled to zero, then waited for
    until it answers."""
    endpoint = get(name, namespace=namespace, token=token)
    return wake(endpoint, namespace=namespace, token=token, timeout=timeout, refresh_every=refresh_every)


def wake(
    endpoint: InferenceEndpoint,
    *,
    namespace: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    refresh_every: float | None = None,
) -> InferenceEndpoint:
    """:func:`ready` for an endpoint already read (``namespace``: as the caller named it, None for the token's
    user's)."""
    refresh = refresh_every if refresh_every is not None else refresh_seconds()
    name = endpoint.name
    if endpoint.status == PAUSED or (endpoint.status == SCALED_TO_ZERO and not endpoint.url):
        logger.warning("endpoint %s is %s: resuming it (billing starts again)", name, endpoint.status)
        return resume(name, namespace=namespace, token=token, timeout=timeout, refresh_every=refresh)
    if endpoint.status == SCALED_TO_ZERO:
        logger.warning(
            "endpoint %s is scaled to zero: waking it with a request (cold start; billed once it runs)", name
        )
        knock(endpoint, token=token)
    if endpoint.status != RUNNING or endpoint.url is None:
        with _errors("start", name, namespace), starting(name, namespace, "is starting"):
            endpoint.wait(timeout=int(timeout), refresh_every=refresh)  # type: ignore[arg-type]
    return endpoint


def base_url(endpoint: InferenceEndpoint) -> str:
    """The OpenAI-compatible base URL of a TGI endpoint (``<url>/v1``)."""
    if not endpoint.url:
        raise EndpointError(f"endpoint {endpoint.name!r} has no URL yet ({endpoint.status}); wait until it runs.")
    return endpoint.url.rstrip("/") + "/v1"


def split_ref(ref: str) -> tuple[str, str | None]:
    """A spec's ``endpoint``, ``NAME`` or ``NAMESPACE/NAME``, as (name, namespace); no namespace means the token's
    user's, as ``sxhub endpoint`` without ``--namespace``."""
    namespace, _, name = ref.rpartition("/")
    return name, namespace or None


def resolve(spec: TeacherSpec, *, timeout: float = DEFAULT_TIMEOUT) -> TeacherSpec:
    """A teacher spec naming ``endpoint: NAME`` with the endpoint's URL and server kind filled in
    (:func:`engine_server`; the endpoint resumed and running first); any other spec as it is."""
    if not spec.endpoint or spec.base_url:
        return spec
    name, namespace = split_ref(spec.endpoint)
    return served_by(spec, ready(name, namespace=namespace, timeout=timeout))


def served_by(spec: TeacherSpec, endpoint: InferenceEndpoint) -> TeacherSpec:
    """``spec`` (naming ``endpoint: NAME``) with that endpoint's URL and, unless the spec sets ``server:``, the kind
    its engine is (:func:`engine_server`)."""
    return replace(spec, base_url=base_url(endpoint), server=spec.server or engine_server(endpoint))


# The engine an endpoint runs is the key of its ``model.image`` (the Inference Endpoints API's
# ``EndpointModelImage``, a oneOf keyed by engine: vLLM, vLLMOmni, vLLMNeuron, sGLang, tgi, tgiNeuron, tei, llamacpp,
# hfServe, huggingface, huggingfaceNeuron, custom; https://api.endpoints.huggingface.cloud/openapi.json). Every
# ``endpoint:`` teacher was sent TGI's request: a vLLM endpoint answers TGI's ``{"type": "json", "value": S}`` with
# a 400 ("Input should be 'text', 'json_object' or 'json_schema'": tests/servers/vllm.py, from vLLM's source), so a run on the
# vLLM engine Inference Endpoints offers stopped after its first texts.
ENGINE_SERVERS = {
    "tgi": "tgi",
    "tgiNeuron": "tgi",
    "huggingface": "tgi",  # the Inference Toolkit: TGI for text generation, as sxhub has always sent it
    "huggingfaceNeuron": "tgi",
    "vLLM": "vllm",
    "vLLMOmni": "vllm",
    "vLLMNeuron": "vllm",
    "llamacpp": "llamacpp",
}
# a custom container, by its image (``sxhub endpoint up`` makes one of TGI's image)
IMAGE_SERVERS = (
    ("text-generation-inference", "tgi"),
    ("vllm", "vllm"),
    ("llama.cpp", "llamacpp"),
    ("llama-cpp", "llamacpp"),
)


def engine_server(endpoint: InferenceEndpoint) -> str | None:
    """The server kind (:mod:`sxhub.teachers.servers`) of the engine ``endpoint`` runs, from its ``model.image``: TGI
    where the Hub names no engine sxhub knows the request of (as before engines were read); None for an engine that
    is none of TGI, vLLM and llama.cpp (SGLang, a custom image of another server): its kind is then detected from
    the running server's routes, as for any ``base_url``."""
    model = (endpoint.raw or {}).get("model") or {}
    image = model.get("image") if isinstance(model, dict) else None
    if not isinstance(image, dict) or not image:
        return "tgi"
    key, container = next(iter(image.items()))
    if key in ENGINE_SERVERS:
        return ENGINE_SERVERS[key]
    url = str((container or {}).get("url") or "").lower() if isinstance(container, dict) else ""
    return next((kind for hint, kind in IMAGE_SERVERS if hint in url), None)


def unwoken(spec: TeacherSpec) -> TeacherSpec | None:
    """:func:`resolve` without waking the endpoint: its URL as the Hub gives it now (the URL stays the same through a
    pause and a resume), enough to key the label cache. None when the Hub gives no URL now (a paused or starting
    endpoint may have none) or the spec names no model: a teacher without one is keyed by the model its server
    lists, which only the running server says."""
    if not spec.endpoint or spec.base_url:
        return spec
    if not spec.model:
        return None
    name, namespace = split_ref(spec.endpoint)
    endpoint = get(name, namespace=namespace)
    return served_by(spec, endpoint) if endpoint.url and endpoint.status not in FAILED else None


def all_unwoken(specs: Sequence[TeacherSpec]) -> list[TeacherSpec] | None:
    """:func:`unwoken` of each spec; None as soon as one of them needs its endpoint running to be keyed."""
    found = []
    for spec in specs:
        asleep = unwoken(spec)
        if asleep is None:
            return None
        found.append(asleep)
    return found


def hourly_price(endpoint: InferenceEndpoint, *, token: str | None = None) -> float | None:
    """US dollars per hour of one replica of the endpoint's hardware (None when the catalogue does not list it)."""
    raw = endpoint.raw
    compute, provider = raw.get("compute") or {}, raw.get("provider") or {}
    try:
        hardware = _api(token).list_inference_endpoints_hardware(namespace=endpoint.namespace)
    except Exception as exc:  # the price is informative only: never stop a run for it
        logger.warning("could not read the hardware prices (%s): the endpoint's cost is unknown", exc)
        return None
    for hw in hardware:
        if (hw.vendor, hw.region, hw.instance_type, hw.instance_size) == (
            provider.get("vendor"),
            provider.get("region"),
            compute.get("instanceType"),
            compute.get("instanceSize"),
        ):
            return float(hw.price_per_hour)
    return None


def describe(endpoint: InferenceEndpoint, *, price: float | None = None) -> dict[str, Any]:
    """What ``sxhub endpoint status`` prints: name, state, URL, model, hardware, replicas and price."""
    raw = endpoint.raw
    compute, provider = raw.get("compute") or {}, raw.get("provider") or {}
    scaling = compute.get("scaling") or {}
    return {
        "name": endpoint.name,
        "namespace": endpoint.namespace,
        "status": endpoint.status,
        "url": endpoint.url,
        "base_url": base_url(endpoint) if endpoint.url else None,
        "model": endpoint.repository,
        "hardware": f"{provider.get('vendor')}/{provider.get('region')} {compute.get('instanceType')} "
        f"{compute.get('instanceSize')}",
        "replicas": {"min": scaling.get("minReplica"), "max": scaling.get("maxReplica")},
        "price_per_hour": price,
    }


# ------------------------------------------------------------------------------------------------------------------
# a run that labels with endpoints: resume first, price in the ledger, pause after
# ------------------------------------------------------------------------------------------------------------------
