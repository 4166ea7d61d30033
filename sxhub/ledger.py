"""What a labelling run cost: each teacher's :class:`TeacherLedger` (requests, tokens, retries, what its server
enforced), the totals and their price, a dry run's estimate, and the lines that say so to a human.

Costs are None (``unknown``) for a teacher without prices, never a made-up zero; answers served from the cache
keep what they first cost (``cached_*``), so a resumed run still shows the whole bill. Used by :mod:`sxhub.annotate`,
:mod:`sxhub.generate` and :mod:`sxhub.twins`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .cards import format_cost  # the summary lines' and the cards' one style of costs
from .data import PreparedTexts
from .prompt import build_messages
from .spec import TaskSpec, TeacherSpec
from .teachers import Teacher

TYPICAL_OUTPUT_TOKENS = 12  # {"label": "neutral"} and the like
TYPICAL_REASON_TOKENS = 40


@dataclass
class TeacherLedger:
    """What one teacher did in a run.

    ``input_tokens``/``output_tokens`` and ``cost_usd`` are what this run spent; ``cached_*`` are what the answers
    served from the cache cost when they were first asked (so a resumed run still shows the whole bill).
    ``cost_usd`` is None (unknown) when the teacher has no prices. ``server`` and ``enforced`` say which kind of
    server answered and what it enforced (schema, json or none); None when it was not contacted.

    Replies whose server sent no token counts (``usage`` is optional in the OpenAI schema) are counted in
    ``replies_without_usage`` (``cached_without_usage`` for cached answers) and add nothing to the token counters
    here; :func:`total_ledger` then gives those tokens and their cost as unknown (None), never as 0.
    """

    requests: int = 0  # requests sent (retries included)
    cached: int = 0  # answers served by the cache
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    retries: int = 0  # transient failures that were retried
    rejected: int = 0  # requests the server refused as sent (HTTP 400, 422, ...)
    invalid_answers: int = 0  # replies that were not a valid label
    context_cuts: int = 0  # answers the server stopped when its context window filled up (never a label)
    capped_answers: int = 0  # answers stopped at a cap the server sets on answers (vLLM max_new_tokens)
    too_long: int = 0  # of ``rejected``: texts refused as too long for its context window (one request each)
    failed_votes: int = 0
    replies_without_usage: int = 0  # replies without token counts: this run's tokens and cost are unknown
    cached_without_usage: int = 0  # cached answers without token counts: their first tokens and cost are unknown
    cost_usd: float | None = None
    cached_cost_usd: float | None = None
    server: str | None = None
    enforced: str | None = None
    request_form: str | None = None


def teacher_servers(ledger: dict[str, Any]) -> list[str]:
    """One line per teacher: its server kind, what that server enforced and the form sxhub sent."""
    lines = []
    for name, led in (ledger.get("teachers") or {}).items():
        if not led.get("server"):
            lines.append(f"{name} (not contacted: every answer came from the cache)")
            continue
        enforced = {"schema": "schema enforced", "json": "JSON only, schema NOT enforced", "none": "nothing enforced"}
        form = f" via {led['request_form']}" if led.get("request_form") else ""
        lines.append(f"{name} ({led['server']}: {enforced.get(led.get('enforced') or '', 'unknown')}{form})")
    return lines


def _count(tokens: int | None) -> str:
    return "unknown" if tokens is None else f"{tokens:,}"


def format_tokens(led: dict[str, Any], prefix: str = "") -> str:
    """``1,530 input + 120 output tokens``; ``unknown`` tokens, and how many replies had no counts, where a server
    sent none (``prefix`` ``cached_`` for the cached answers' first tokens)."""
    tokens_in, tokens_out = (led.get(f"{prefix}{kind}_tokens") for kind in ("input", "output"))
    text = f"{_count(tokens_in)} input + {_count(tokens_out)} output tokens"
    missing = led.get("cached_without_usage" if prefix else "replies_without_usage") or 0
    if missing:
        kind = ("answer" if prefix else "reply", "answers" if prefix else "replies")[missing != 1]
        text += f" ({missing} {kind} without token counts)"
    return text


def cached_note(led: dict[str, Any]) -> str:
    if not led.get("cached"):
        return ""
    cost = led.get("cached_cost_usd")
    return (
        f" (the {led['cached']} cached answers first cost {format_tokens(led, 'cached_')}"
        f"{', ' + format_cost(cost) if cost is not None else ''})"
    )


def enforced_note(led: dict[str, Any]) -> str:
    parts = [
        f"{name}: {t['server']} enforced {t['enforced']}"
        for name, t in (led.get("teachers") or {}).items()
        if t.get("server") and t.get("enforced") != "schema"
    ]
    return f"; schema NOT enforced by the server ({'; '.join(parts)}): sxhub validated every reply" if parts else ""


Prices = dict[str, "tuple[float, float] | None"]


def cost_of(p: tuple[float, float] | None, tokens_in: int | None, tokens_out: int | None) -> float | None:
    """The cost of some tokens at prices ``p`` (USD per million); None (unknown) without prices or token counts."""
    if p is None or tokens_in is None or tokens_out is None:
        return None
    return (tokens_in * p[0] + tokens_out * p[1]) / 1e6


COSTS = ("cost_usd", "cached_cost_usd")
LATEST = ("server", "enforced", "request_form")


def sum_ledgers(parts: Sequence[dict[str, Any]], *, latest: bool = False) -> dict[str, Any]:
    """The :class:`TeacherLedger` fields of several ledgers summed: counters added, a cost unknown (None) when any
    part's is (a part without one counts as unknown), never rounded; with ``latest``, the server fields of the last
    part that has them. The one sum behind every total: annotate's, and generate's and twins' over their runs."""
    total: dict[str, Any] = {}
    for key, default in asdict(TeacherLedger()).items():
        values = [part.get(key, default) for part in parts]
        if isinstance(default, int):  # a token count is None (unknown) in a ledger with replies without usage
            total[key] = None if any(v is None for v in values) else sum(int(v) for v in values)
        elif key in COSTS:
            total[key] = None if any(v is None for v in values) else float(sum(values))
        elif latest:
            total[key] = next((v for v in reversed(values) if v), None)
    return total


def total_ledger(engine_ledgers: dict[str, TeacherLedger], prices: Prices) -> dict[str, Any]:
    """Per-teacher ledgers and their totals; a total cost is unknown (None) when any teacher's is. A teacher with
    replies without token counts has unknown (None) tokens and cost for them (this run's, or the cached answers'):
    the counters hold only the replies that had counts, and a partial sum is not the bill."""
    teachers = {}
    for name, led in engine_ledgers.items():
        price = prices.get(name)
        figures = asdict(led)
        for prefix, missing in (("", led.replies_without_usage), ("cached_", led.cached_without_usage)):
            if missing:
                figures[f"{prefix}input_tokens"] = figures[f"{prefix}output_tokens"] = None
        led.cost_usd = figures["cost_usd"] = cost_of(price, figures["input_tokens"], figures["output_tokens"])
        led.cached_cost_usd = figures["cached_cost_usd"] = cost_of(
            price, figures["cached_input_tokens"], figures["cached_output_tokens"]
        )
        teachers[name] = figures
    return {**sum_ledgers(list(teachers.values())), "teachers": teachers}


def merge_ledgers(*ledgers: dict[str, Any]) -> dict[str, Any]:
    """Several runs' ledgers (from :func:`total_ledger` or annotate) as one: every field of a teacher's ledger
    summed as :func:`sum_ledgers` sums it, per teacher too, so cached answers keep their first cost
    (``cached_cost_usd``). Used by generate and twins, whose runs are several engine runs."""
    names = list(dict.fromkeys(name for led in ledgers for name in led.get("teachers") or {}))
    teachers = {
        name: sum_ledgers(
            [led["teachers"][name] for led in ledgers if name in (led.get("teachers") or {})], latest=True
        )
        for name in names
    }
    return {**sum_ledgers(list(ledgers)), "teachers": teachers}


def teacher_prices(teachers: Sequence[Teacher], names: list[str]) -> Prices:
    return {
        n: (t.spec.price_input, t.spec.price_output) if t.spec and t.spec.priced else None  # type: ignore[misc]
        for n, t in zip(names, teachers, strict=True)
    }


def unique_names(names: Sequence[str]) -> list[str]:
    """The ledger's and the votes' teacher names: a name given twice (one teacher listed twice, one model through two
    providers) gets ``#2``, ``#3``, ... so that each teacher keeps its own ledger."""
    unique: list[str] = []
    for base in names:
        name, k = base, 2
        while name in unique:
            name, k = f"{base}#{k}", k + 1
        unique.append(name)
    return unique


def dry_run_estimate(
    spec: TaskSpec,
    prepared: PreparedTexts,
    specs: list[Any],
    samples: int,
    max_invalid: int = 2,
    left: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> dict[str, Any]:
    """Token and cost estimate without calling a teacher: prompt chars / 4, and a typical or the maximal output.

    The ``*_max`` figures are the most the run may ask for: every answer invalid and at max_tokens, so each vote asked
    ``max_invalid + 1`` times, as the engine asks it (``max_invalid`` re-asks after an invalid answer); a bound that
    counted one request per vote was a third of that. Retries of failed requests (429, 5xx) are not counted: they
    bring no answer, and are not billed by the token.

    Teachers are named as the run names them (:func:`unique_names`): keyed on a name given twice, the second teacher
    replaced the first, and the plan counted one teacher's requests and tokens less than the run made.

    ``left`` (:func:`sxhub.annotate_engine.tries_left`) holds, per teacher, the votes the label cache does not
    answer, as (text index, tries left); the others cost nothing and are counted in ``cached``. Without it, every
    vote is planned: a dry run before resuming a killed run, or before the whole input after ``--limit``, planned
    (and priced) every answer the cache already held, which the run then did not pay for."""
    tries = max_invalid + 1
    prompts = [sum(len(m["content"]) for m in build_messages(spec, t)) // 4 + 1 for t in prepared.texts]
    every = [(i, tries) for i in range(len(prompts)) for _ in range(samples)]
    typical = TYPICAL_OUTPUT_TOKENS + (TYPICAL_REASON_TOKENS if spec.reasoning else 0)
    teachers: dict[str, Any] = {}
    cost: float | None = 0.0
    cost_max: float | None = 0.0
    # as aannotate opens them: Teacher objects as given when all are, else every entry through its spec
    objects = all(isinstance(entry, Teacher) for entry in specs)
    parsed = [
        (entry.spec or TeacherSpec(model=entry.name)) if isinstance(entry, Teacher) else TeacherSpec.parse(entry)
        for entry in specs
    ]
    names = [entry.name if objects else str(ts.name) for entry, ts in zip(specs, parsed, strict=True)]
    for n, (name, ts) in enumerate(zip(unique_names(names), parsed, strict=True)):
        asked = every if left is None else left[n]
        out, out_max = min(typical, ts.max_tokens), ts.max_tokens
        tin, tout, tin_max, tmax = (
            sum(prompts[i] for i, _ in asked),
            len(asked) * out,
            sum(prompts[i] * k for i, k in asked),
            sum(out_max * k for _, k in asked),
        )
        price = (ts.price_input, ts.price_output) if ts.priced else None
        c, c_max = cost_of(price, tin, tout), cost_of(price, tin_max, tmax)  # type: ignore[arg-type]
        teachers[name] = {
            "requests_planned": len(asked),
            "cached": len(prompts) * samples - len(asked),
            "requests_max": sum(k for _, k in asked),
            "input_tokens": tin,
            "input_tokens_max": tin_max,
            "output_tokens": tout,
            "output_tokens_max": tmax,
            "cost_usd": c,
            "cost_usd_max": c_max,
        }
        cost = None if cost is None or c is None else cost + c
        cost_max = None if cost_max is None or c_max is None else cost_max + c_max
    return {
        "max_invalid": max_invalid,
        "requests_planned": sum(t["requests_planned"] for t in teachers.values()),
        "cached": sum(t["cached"] for t in teachers.values()),
        "requests_max": sum(t["requests_max"] for t in teachers.values()),
        "input_tokens": sum(t["input_tokens"] for t in teachers.values()),
        "input_tokens_max": sum(t["input_tokens_max"] for t in teachers.values()),
        "output_tokens": sum(t["output_tokens"] for t in teachers.values()),
        "output_tokens_max": sum(t["output_tokens_max"] for t in teachers.values()),
        "cost_usd": cost,
        "cost_usd_max": cost_max,
        "teachers": teachers,
    }
