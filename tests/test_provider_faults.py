"""`sxhub annotate` with a Hub model id, against the Inference Providers router stand-in answering its error answers
(``tests/provider_router.py``: the bodies and headers the router is seen to send, with their sources)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli
from provider_router import (
    MODEL,
    Fault,
    ProviderRouter,
    RouterFault,
    gated_repo,
    invalid_token,
    no_inference_permission,
    out_of_credits,
    point_client_at,
    rate_limited,
    repo_disabled,
    repo_not_found,
    routes_named_providers,
)

LABELS = ["positive", "neutral", "negative"]
TEXTS = [f"Operating profit rose to EUR {i}m." for i in range(6)]


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A token set, and huggingface_hub's cached provider mappings (of other tests' routers) cleared."""
    from huggingface_hub.inference._providers import _common

    monkeypatch.setenv("HF_TOKEN", "hf_provider_test_token")
    _common._fetch_inference_provider_mapping.cache_clear()
    yield
    _common._fetch_inference_provider_mapping.cache_clear()


def annotate_through(
    fault: Fault | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    hub: RouterFault | Fault | None = None,
    hub_root: str | None = None,
    limit: int | None = None,
    out: str = "out.csv",
    **kw: str,
) -> tuple[int, str, ProviderRouter]:
    """``sxhub annotate`` of TEXTS (one request at a time) with the Hub model id as teacher, ``provider`` from
    ``kw``; returns the exit code, stderr and the router that answered. ``hub`` is the Hub's answer to the
    provider-mapping request, ``hub_root`` the Hub's address when it is not the router's, ``limit`` annotate's
    ``--limit``, ``out`` the output's name. Each run fetches the mapping afresh, as each ``sxhub`` process does."""
    from huggingface_hub.inference._providers import _common

    _common._fetch_inference_provider_mapping.cache_clear()
    provider = kw.get("provider")
    task = tmp_path / "task.yaml"
    extra = f"\n    provider: {provider}" if provider else ""
    task.write_text(f"name: fin\nlabels: [{', '.join(LABELS)}]\nteachers:\n  - model: {MODEL}{extra}\n")
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "\n".join(TEXTS) + "\n")
    argv = ["annotate", str(task), str(source), "-o", str(tmp_path / out), "--concurrency", "1"]
    argv += ["--limit", str(limit)] if limit is not None else []
    with ProviderRouter(fault, hub=hub) as router:
        point_client_at(router, monkeypatch, hub_root)
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "cache")], capsys)
    return code, err, router


@pytest.mark.parametrize("provider", [None, "together"], ids=["auto-router", "together"])
@pytest.mark.parametrize(
    ("answer", "fix"),
    [
        (invalid_token, "set HF_TOKEN (or run `hf auth login`) with a token that may call Inference Providers"),
        (out_of_credits, "add credits (huggingface.co/settings/billing for Inference Providers)"),
        (
            no_inference_permission,
            'the "Make calls to Inference Providers" permission at https://huggingface.co/settings/tokens',
        ),
    ],
    ids=["401-bad-token", "402-credits-spent", "403-no-permission"],
)
def test_a_router_refusal_stops_the_run_in_one_line_and_the_rerun_resumes(
    answer: Callable[[], RouterFault],
    fix: str,
    provider: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    routed: None,
) -> None:
    """The router answers the third request with 401 (a revoked token), 402 (the month's credits spent) or 403 (a
    token without the "Make calls to Inference Providers" permission). The run stops at once (no retry, no other
    text asked) in one line naming the fix; a 403 said only "check that your token may use this model or provider",
    and a 401 or 403 did not say that the two answers so far were kept. The rerun, token fixed, asks only the rest."""
    code, err, router = annotate_through(
        lambda n: answer() if n == 3 else None, tmp_path, capsys, monkeypatch, provider=provider or ""
    )
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: ") and fix in last, err
    assert "run the same command to resume (the label cache keeps every answer so far)" in last
    assert router.faults == [answer().status] and router.chats == 3  # one refusal, then nothing more sent
    assert not (tmp_path / "out.csv").exists()
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider=provider or "")
    assert code == 0, err
    assert len(router.requests) == len(TEXTS) - 2  # the two answered before the refusal come from the cache
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == len(TEXTS) and not out["failed"].any() and out["label"].isin(LABELS).all()


@pytest.mark.parametrize(
    "limit",
    [{"retry_after": "3"}, {"reset_in": 3}],
    ids=["retry-after", "ratelimit-header"],
)
def test_a_rate_limited_request_waits_as_long_as_the_router_says_then_succeeds(
    limit: dict[str, str | int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    routed: None,
) -> None:
    """A 429 is retried after the wait the router names: ``Retry-After``, or the Hub's ``RateLimit: "api";r=0;t=3``
    (huggingface_hub reads it; sxhub did not, and asked again after its own 1-2 s backoff, inside the spent window).
    Nothing fails and the run ends labelled."""
    code, err, router = annotate_through(
        lambda n: rate_limited(**limit) if n == 2 else None,  # type: ignore[arg-type]
        tmp_path,
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert router.faults == [429] and router.chats == len(TEXTS) + 1
    assert router.times[2] - router.times[1] >= 2.95
    out = pd.read_csv(tmp_path / "out.csv")
    assert not out["failed"].any() and "1 retries" in err


def test_a_rate_limit_that_resets_past_the_longest_wait_stops_the_run_at_once_and_the_rerun_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, routed: None
) -> None:
    """A spent window that resets in an hour (``RateLimit: "api";r=0;t=3600``): every retry within the longest wait
    (60 s) falls inside it, and the run retried each remaining text until three had failed. It now stops at the
    first such 429 in one line with the reset time, and the rerun after it asks only the texts not yet answered."""
    code, err, router = annotate_through(
        lambda n: rate_limited(reset_in=3600) if n >= 3 else None, tmp_path, capsys, monkeypatch
    )
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: ") and "rate-limited until its limit resets in 60 min" in last, err
    assert "Run the same command after that to resume" in last and "--concurrency" in last
    assert router.faults == [429] and router.chats == 3  # not retried inside the spent window
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch)
    assert code == 0, err
    assert len(router.requests) == len(TEXTS) - 2


# huggingface_hub 2.5 on sends a named provider to the router as model:provider (an hf_ token): the Hub is not asked
ASKS_THE_HUB = pytest.mark.skipif(
    routes_named_providers(),
    reason="the installed huggingface_hub (>= 2.5) does not ask the Hub for the provider mapping with an hf_ token; "
    "test_a_named_provider_goes_to_the_router_as_model_colon_provider_without_asking_the_hub covers it",
)


def closed_port() -> str:
    """The address of a port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@ASKS_THE_HUB
@pytest.mark.parametrize(
    ("hub", "fix"),
    [
        (invalid_token, "set HF_TOKEN (or run `hf auth login`) with a valid token"),
        (repo_not_found, "check the model id 'org/teacher-model' (org/name, as on its Hub page), or, for a private"),
        (gated_repo, "model 'org/teacher-model' is gated and this token's account has not been granted access"),
        (repo_disabled, "model 'org/teacher-model' is disabled on the Hub: pick another model"),
    ],
    ids=["401-bad-token", "404-unknown-or-private", "403-gated", "403-disabled"],
)
def test_a_refused_provider_mapping_stops_in_one_line_naming_the_fix_and_the_rerun_resumes(
    hub: Callable[[], RouterFault],
    fix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    routed: None,
) -> None:
    """With ``provider: together`` huggingface_hub first asks the Hub for the model's provider mapping. Refused, it
    was read as the provider's answer: a 404 said "check the model id or base_url" (no base_url here) and not that
    the answers so far were kept; a gated or disabled model's 403 said to give the token the Inference Providers
    permission. Each now stops before any chat request in one line naming the Hub, the model and the fix, exit 2;
    the two texts labelled by an earlier run stay in the output and the cache, and the rerun asks only the rest."""
    code, err, _ = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together", limit=2, out="two.csv")
    assert code == 0, err
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together", hub=hub())
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: teacher 'org/teacher-model': the Hugging Face Hub"), err
    assert "asked under which id provider 'together' serves 'org/teacher-model', refused (HTTP" in last
    assert fix in last and last.endswith(
        "then run the same command to resume (the label cache keeps every answer so far)."
    )
    assert "base_url" not in last and "Make calls to Inference Providers" not in last
    assert router.model_info_calls == 1 and router.chats == 0  # refused once, nothing sent to the provider
    assert not (tmp_path / "out.csv").exists() and len(pd.read_csv(tmp_path / "two.csv")) == 2
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together")
    assert code == 0, err
    assert len(router.requests) == len(TEXTS) - 2
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == len(TEXTS) and not out["failed"].any()


@ASKS_THE_HUB
def test_a_hub_that_cannot_be_reached_for_the_mapping_stops_at_once_naming_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, routed: None
) -> None:
    """The Hub refuses connections while the provider answers: the mapping request failed, was retried like a
    provider that had gone away (17 s, 5 tries) and the run ended "stopped answering ... start the server again",
    exit 2, naming a server the user does not run. It now stops at the first refusal, exit 1 (the network, not the
    input), naming the Hub's address, the network and the rerun."""
    code, err, _ = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together", limit=2, out="two.csv")
    assert code == 0, err
    hub = closed_port()
    started = time.monotonic()
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together", hub_root=hub)
    last = err.strip().splitlines()[-1]
    assert code == 1 and f"could not be reached at {hub} (ConnectError" in last, err
    assert "check the network (a proxy, HF_ENDPOINT), then run the same command to resume" in last
    assert "start the server" not in last and time.monotonic() - started < 10  # no retries
    assert router.chats == 0
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together")
    assert code == 0 and len(router.requests) == len(TEXTS) - 2, err


def test_hf_hub_offline_refuses_a_provider_teacher_in_one_line_before_the_mapping_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, routed: None
) -> None:
    """HF_HUB_OFFLINE=1 with ``provider: together``: huggingface_hub would refuse the mapping request
    (OfflineModeIsEnabled); sxhub refuses the teacher first, in one line naming HF_HUB_OFFLINE, exit 2, and neither
    the Hub nor the provider is asked."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub is imported
    code, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: HF_HUB_OFFLINE is set"), err
    assert "unset HF_HUB_OFFLINE" in last
    assert router.model_info_calls == 0 and router.chats == 0


@ASKS_THE_HUB
@pytest.mark.parametrize(
    ("hub", "code", "fix"),
    [
        (
            lambda: RouterFault(503, {"error": "Service Unavailable"}),
            1,
            "The Hub is down or overloaded (see status.huggingface.co), not the provider",
        ),
        (lambda: rate_limited(reset_in=1), 2, "The Hub rate-limits this token's requests"),
    ],
    ids=["503", "429"],
)
def test_a_busy_hub_answering_the_provider_mapping_is_named_as_the_hub_not_the_teacher(
    hub: Callable[[], RouterFault],
    code: int,
    fix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    routed: None,
) -> None:
    """The Hub answers the provider-mapping request with a 503 or a 429 on every try: it was retried as the teacher's
    own answer and the run ended "teacher 'org/teacher-model' answered only errors ... Check the server (its logs, or
    the proxy in front of it)", exit 2, naming a server nobody runs. The line now names the Hub, the request and what
    to do (a 503: the Hub's outage, exit 1; a 429: its rate limit, exit 2); nothing reached the provider."""
    from sxhub import annotate_engine

    monkeypatch.setattr(annotate_engine._Engine, "_wait", lambda self, state: 0.0)  # 15 tries; waits: the next test
    code_, err, router = annotate_through(None, tmp_path, capsys, monkeypatch, provider="together", hub=hub())
    last = err.strip().splitlines()[-1]
    assert code_ == code and last.startswith(
        "Error: teacher 'org/teacher-model': the Hugging Face Hub, asked under"
    ), err
    assert f"answered HTTP {hub().status}" in last and "on every try for 3 texts in a row (5 tries each)" in last
    assert fix in last and "run the same command to resume" in last
    assert "answered only errors" not in last and "Check the server" not in last
    assert router.chats == 0 and router.model_info_calls == 15


@ASKS_THE_HUB
def test_a_hub_429_on_the_provider_mapping_waits_its_ratelimit_reset_then_the_run_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, routed: None
) -> None:
    """The Hub's 429 to the provider-mapping request names its reset (``RateLimit: "api";r=0;t=3``): the retry waits
    it out as for the router's own 429 (it waited sxhub's 1-2 s backoff only, inside the spent window), then every
    text is labelled through the provider."""
    code, err, router = annotate_through(
        None,
        tmp_path,
        capsys,
        monkeypatch,
        provider="together",
        hub=lambda n: rate_limited(reset_in=3) if n == 1 else None,
    )
    assert code == 0, err
    assert router.model_info_times[1] - router.model_info_times[0] >= 2.95
    assert len(router.requests) == len(TEXTS) and "1 retries" in err


@pytest.mark.skipif(not routes_named_providers(), reason="huggingface_hub < 2.5 asks the Hub for the provider mapping")
def test_a_named_provider_goes_to_the_router_as_model_colon_provider_without_asking_the_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, routed: None
) -> None:
    """huggingface_hub 2.5 sends ``provider: together`` with an hf_ token to the router's ``/v1/chat/completions`` as
    ``org/teacher-model:together``. The tests' stand-in patched only the module's own auto-router instance, so the
    requests left for router.huggingface.co and the run stopped "refused connections for 17 s" (CI on 2.5.0). With
    the Hub unreachable (nothing listens at its address), every text is labelled through the router, under the
    schema, and the Hub is never asked."""
    code, err, router = annotate_through(
        None, tmp_path, capsys, monkeypatch, provider="together", hub_root=closed_port()
    )
    assert code == 0, err
    assert router.model_info_calls == 0 and len(router.requests) == len(TEXTS)
    assert {(path, body["model"]) for path, body in router.requests} == {("/v1/chat/completions", f"{MODEL}:together")}
    assert router.enforced == ["schema"] * len(TEXTS)
    assert not pd.read_csv(tmp_path / "out.csv")["failed"].any()
