"""`sxhub annotate` with a Hub model id, against the Inference Providers router stand-in answering its error answers
(``tests/provider_router.py``: the bodies and headers the router is seen to send, with their sources)."""

from __future__ import annotations

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
    invalid_token,
    no_inference_permission,
    out_of_credits,
    rate_limited,
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
    fault: Fault | None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, **kw: str
) -> tuple[int, str, ProviderRouter]:
    """``sxhub annotate`` of TEXTS (one request at a time) with the Hub model id as teacher, ``provider`` from
    ``kw``; returns the exit code, stderr and the router that answered."""
    from huggingface_hub import constants
    from huggingface_hub.inference._providers import CONVERSATIONAL_AUTO_ROUTER

    provider = kw.get("provider")
    task = tmp_path / "task.yaml"
    extra = f"\n    provider: {provider}" if provider else ""
    task.write_text(f"name: fin\nlabels: [{', '.join(LABELS)}]\nteachers:\n  - model: {MODEL}{extra}\n")
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "\n".join(TEXTS) + "\n")
    argv = ["annotate", str(task), str(source), "-o", str(tmp_path / "out.csv"), "--concurrency", "1"]
    with ProviderRouter(fault) as router:
        monkeypatch.setattr(constants, "ENDPOINT", router.root)
        monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", router.root + "/{provider}")
        monkeypatch.setattr(CONVERSATIONAL_AUTO_ROUTER, "base_url", router.root)
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
