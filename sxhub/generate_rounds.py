"""Generation in rounds of write, dedup and vote, where what is kept depends on the vote: ``--balance`` (about
``n / len(labels)`` texts per voted label) and ``--min-agreement`` (only texts whose vote reached that agreement).

Both modes vote on every round as it is written and size the next round by the rate measured so far: ``--balance``
per label (texts written for it that the vote gave it), ``--min-agreement`` over all texts (written texts that
reached the agreement), asking at most :data:`BALANCE_MAX_BOOST` requests per missing text. With both, a text must
reach the agreement before it counts toward its label's quota. Both stop asking for what gained nothing in
:data:`BALANCE_STALL_ROUNDS` rounds in a row (a label; with ``--min-agreement`` alone, the run). Nothing pads a
shortfall: it is reported in the summary and a warning.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from .spec import TaskSpec
from .vote import mean_agreement

logger = logging.getLogger(__name__)

ROUNDS_MAX = 8  # --balance and --min-agreement keep asking for what is short, so they get more rounds by default
BALANCE_MAX_ROUNDS = ROUNDS_MAX
BALANCE_MAX_BOOST = 4  # at most this many requests per missing text (of a label, or of --n) in one round
BALANCE_STALL_ROUNDS = 2  # a label that gains nothing in this many rounds in a row is no longer asked for
AGREEMENT_COLUMNS = ("votes", "agreement", "failed", "error")


class RoundOptions(Protocol):
    """What the rounds read of ``GenerateOptions``."""

    @property
    def n(self) -> int: ...
    @property
    def topics(self) -> list[str]: ...
    @property
    def min_agreement(self) -> float | None: ...
    @property
    def rounds(self) -> int: ...
    @property
    def max_minutes(self) -> float | None: ...


class RoundWriter(Protocol):
    """What the rounds need of a generate run (:class:`sxhub.generate_writer.Writer`): write a plan, vote on texts,
    count drops."""

    @property
    def spec(self) -> TaskSpec: ...
    @property
    def opts(self) -> RoundOptions: ...
    @property
    def dropped(self) -> dict[str, int]: ...
    @property
    def cut_short(self) -> bool: ...
    @property
    def sent(self) -> int: ...
    @property
    def discarded(self) -> set[str]: ...

    def stop_for_time(self) -> bool: ...

    async def write(
        self, plan: list[tuple[int, str | None, str]], round_no: int, against: list[str]
    ) -> list[dict[str, Any]]: ...

    async def vote(self, texts: list[str]) -> Any: ...


def balance_quotas(labels: Sequence[str], n: int) -> dict[str, int]:
    """``n`` texts spread over ``labels``: ``n // len(labels)`` each, one more for the first ``n % len(labels)``."""
    base, extra = divmod(n, len(labels))
    return {label: base + (i < extra) for i, label in enumerate(labels)}


def requests_for(missing: int, asked: int, hits: int) -> int:
    """Requests to write for a label short of ``missing`` texts, from its hit rate so far (``hits / asked``).

    The first round asks for ``missing``; later ones for ``missing / rate``, the rate floored at
    ``1 / BALANCE_MAX_BOOST`` (so at most ``BALANCE_MAX_BOOST * missing`` requests, also when it was never voted).
    """
    if missing <= 0:
        return 0
    if asked <= 0:
        return missing
    rate = max(hits / asked, 1.0 / BALANCE_MAX_BOOST)
    return min(math.ceil(missing / rate - 1e-9), BALANCE_MAX_BOOST * missing)


async def balanced_rounds(run: RoundWriter) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rounds of write, dedup and vote until every voted label holds its quota (module docstring)."""
    opts, spec = run.opts, run.spec
    labels = spec.label_names
    col = spec.label_column
    quota = balance_quotas(labels, opts.n)
    run.dropped.update(over_quota=0, unlabelled=0, **({} if opts.min_agreement is None else {"low_agreement": 0}))
    counts = dict.fromkeys(labels, 0)
    asked = dict.fromkeys(labels, 0)  # requests written for each label, all rounds
    hits = dict.fromkeys(labels, 0)  # of those, texts the vote gave that label (at --min-agreement, if given)
    stalled = dict.fromkeys(labels, 0)
    given_up: list[str] = []
    seen: list[str] = []  # every text kept by the dedup so far (accepted or dropped after the vote)
    kept: list[dict[str, Any]] = []
    next_k = rounds = 0
    for round_no in range(opts.rounds):
        short = {lab: quota[lab] - counts[lab] for lab in labels if counts[lab] < quota[lab] and lab not in given_up}
        if not short or run.stop_for_time():  # --max-minutes: no round starts after it
            break
        rounds += 1
        ask = {lab: requests_for(missing, asked[lab], hits[lab]) for lab, missing in short.items()}
        plan = []
        for lab, topic in _interleave(ask, opts.topics, asked, labels):
            plan.append((next_k, topic, lab))
            next_k += 1
        fresh = await run.write(plan, round_no, seen)
        for _, _, lab in plan[: run.sent]:  # --max-minutes may have stopped the round: the requests sent
            asked[lab] += 1
        seen += [r["text"] for r in fresh]
        if not fresh:
            gained = dict.fromkeys(labels, 0)
        else:
            labelled = await run.vote([r["text"] for r in fresh])
            rows = _low_agreement_dropped(voted_rows(fresh, labelled, col), opts.min_agreement, run.dropped)
            for row in rows:
                if not row["failed"] and row[col] == row["prompted_label"]:
                    hits[row["prompted_label"]] += 1
            accepted = _accept(rows, col, quota, counts, run.dropped)
            kept += accepted
            run.discarded.update({r["text"] for r in fresh} - {r["text"] for r in accepted})
            gained = {lab: sum(r[col] == lab for r in accepted) for lab in labels}
        for lab in short:
            stalled[lab] = stalled[lab] + 1 if not gained[lab] else 0
            if stalled[lab] >= BALANCE_STALL_ROUNDS and counts[lab] < quota[lab]:
                given_up.append(lab)
    missing = {lab: quota[lab] - counts[lab] for lab in labels if counts[lab] < quota[lab]}
    rate = {lab: round(hits[lab] / asked[lab], 4) if asked[lab] else None for lab in labels}
    if missing:
        logger.warning(
            "generate --balance: short of quota after %d rounds: %s (vote = prompted label: %s; no longer asked for, "
            "nothing gained in %d rounds: %s); no other text pads them: %s",
            rounds,
            ", ".join(f"{lab} {counts[lab]}/{quota[lab]}" for lab in missing),
            ", ".join(f"{lab} {rate[lab]}" for lab in missing),
            BALANCE_STALL_ROUNDS,
            ", ".join(given_up) or "none",
            _time_cap(run)  # the cap stopped the writing: more rounds would not have run
            or "raise --max-rounds, or give seed examples or a better --writer for them",
        )
    report = {
        "quota": quota,
        "counts": counts,
        "short": missing,
        "rounds": rounds,
        "max_rounds": opts.rounds,
        "requests_per_label": asked,
        "hit_rate": rate,
        "given_up": given_up,
    }
    return kept_frame(kept, col), report


def _time_cap(run: RoundWriter) -> str:
    """The warning's fix where ``--max-minutes`` stopped the writing (it said "raise --max-rounds", which would not
    have run another round); empty otherwise."""
    if not run.cut_short:
        return ""
    return f"stopped at --max-minutes {run.opts.max_minutes:g}: raise --max-minutes (or leave it out)"


def _interleave(
    ask: dict[str, int], topics: Sequence[str], asked: dict[str, int], labels: Sequence[str]
) -> list[tuple[str, str | None]]:
    """(label, topic) for every request, the labels taken in turns; each label's topics rotate across rounds.

    A label's ``r``-th request takes the topic of the ``r``-th cell of that label in the plain run's grid
    (:func:`sxhub.generate.grid`: cell ``k = r * L + i`` for label ``i``), so that the first texts of all labels
    spread over the topics: each label took them from the first one on, and 10 topics with ``--n 9`` over 3
    labels wrote about 3 of them."""
    index = {lab: i for i, lab in enumerate(labels)}
    block = math.lcm(len(topics), len(labels)) if topics else 1

    def topic(lab: str, r: int) -> str | None:
        if not topics:
            return None
        k = r * len(labels) + index[lab]
        return topics[(k + k // block) % len(topics)]

    out: list[tuple[str, str | None]] = []
    for j in range(max(ask.values(), default=0)):
        for lab, many in ask.items():
            if j < many:
                out.append((lab, topic(lab, asked[lab] + j)))
    return out


def _accept(
    rows: list[dict[str, Any]], col: str, quota: dict[str, int], counts: dict[str, int], dropped: dict[str, int]
) -> list[dict[str, Any]]:
    """The rows that fill their voted label's quota (counted into ``counts``), in their order; the others dropped.

    Where a label has more candidates than room, those written for it come first, then the higher agreement.
    """
    labelled = [i for i, r in enumerate(rows) if not r["failed"]]
    dropped["unlabelled"] += len(rows) - len(labelled)
    ranked = sorted(labelled, key=lambda i: (rows[i][col] != rows[i]["prompted_label"], -_agreement(rows[i]), i))
    take = set()
    for i in ranked:
        lab = rows[i][col]
        if counts[lab] < quota[lab]:
            counts[lab] += 1
            take.add(i)
        else:
            dropped["over_quota"] += 1
    return [rows[i] for i in sorted(take)]


def _agreement(row: dict[str, Any]) -> float:
    """A voted row's agreement as one number (:func:`sxhub.vote.mean_agreement`, as ``train --min-agreement`` and
    the cards read it): a multi-label row's is a dict per label, which ``float()`` refused after all the writing."""
    value = mean_agreement(row["agreement"])
    return 0.0 if value is None else value


def voted_rows(fresh: list[dict[str, Any]], labelled: Any, col: str) -> list[dict[str, Any]]:
    """The written rows with their vote (``col``, votes, agreement, failed, error) from an AnnotateResult."""
    frame = labelled.frame
    columns = [frame[col].tolist(), *(frame[key].tolist() for key in AGREEMENT_COLUMNS)]
    return [
        {**row, col: vote, "votes": votes, "agreement": agreement, "failed": bool(failed), "error": error}
        for row, vote, votes, agreement, failed, error in zip(fresh, *columns, strict=True)
    ]


def _low_agreement_dropped(
    rows: list[dict[str, Any]], minimum: float | None, dropped: dict[str, int]
) -> list[dict[str, Any]]:
    """``rows`` without the labelled ones under ``minimum`` (counted as ``low_agreement``); unlabelled rows stay
    for the caller to count."""
    if minimum is None:
        return rows
    # agreement: the vote share, or the label's probability under ``vote: scores``
    low = [not r["failed"] and _agreement(r) < minimum - 1e-9 for r in rows]
    dropped["low_agreement"] += sum(low)
    return [r for r, is_low in zip(rows, low, strict=True) if not is_low]


async def confident_rounds(
    run: RoundWriter, cells: Sequence[tuple[str | None, str]]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rounds of write, dedup and vote until ``n`` texts reached ``min_agreement`` (module docstring).

    Round 1 asks for ``n`` texts over the (topic, label) ``cells`` exactly as a plain run does (the same requests
    and seeds, so a plain run's cache answers it); later rounds continue around the cells."""
    opts, spec = run.opts, run.spec
    minimum = float(opts.min_agreement or 0.0)
    col = spec.label_column
    run.dropped.update(low_agreement=0, unlabelled=0, surplus=0)
    kept: list[dict[str, Any]] = []
    seen: list[str] = []
    asked = reaching = rounds = barren = next_k = 0
    highest: float | None = None  # the highest agreement any labelled text reached: what --min-agreement could be
    for round_no in range(opts.rounds):
        need = opts.n - len(kept)
        if (
            need <= 0 or barren >= BALANCE_STALL_ROUNDS or run.stop_for_time()
        ):  # --max-minutes: no round starts after it
            break
        rounds += 1
        many = requests_for(need, asked, reaching)
        plan = [(k, *cells[k % len(cells)]) for k in range(next_k, next_k + many)]
        next_k += many
        fresh = await run.write(plan, round_no, seen)
        asked += run.sent  # --max-minutes may have stopped the round: the requests sent
        seen += [r["text"] for r in fresh]
        good: list[dict[str, Any]] = []
        if fresh:
            rows = voted_rows(fresh, await run.vote([r["text"] for r in fresh]), col)
            run.dropped["unlabelled"] += sum(r["failed"] for r in rows)
            reached = [_agreement(r) for r in rows if not r["failed"]]
            highest = max([*reached, *([] if highest is None else [highest])], default=None)
            good = [r for r in _low_agreement_dropped(rows, minimum, run.dropped) if not r["failed"]]
        # as --balance gives up a label: rounds that keep nothing stop (a --min-agreement no vote reaches wrote
        # 4 x n requests a round for every one of the 8 rounds, 29 x n in all, to keep none)
        barren = 0 if good else barren + 1
        reaching += len(good)
        run.dropped["surplus"] += max(0, len(good) - need)
        kept += good[:need]
        run.discarded.update({r["text"] for r in fresh} - {r["text"] for r in good[:need]})
    report = {
        "min_agreement": minimum,
        "kept": len(kept),
        "rounds": rounds,
        "max_rounds": opts.rounds,
        "requests": asked,
        "reach_rate": round(reaching / asked, 4) if asked else None,
        "highest": None if highest is None else round(highest, 4),
        "given_up": barren >= BALANCE_STALL_ROUNDS and len(kept) < opts.n,
    }
    if len(kept) < opts.n:
        stop = (
            f"stopped after {BALANCE_STALL_ROUNDS} rounds in a row in which none did; nothing pads them: lower "
            "--min-agreement"
            if report["given_up"]
            else f"nothing pads them: {_time_cap(run) or 'raise --max-rounds, or lower --min-agreement'}"
        )
        logger.warning(
            "generate --min-agreement %g: %d of %d texts reached it after %d rounds (%s of the requests did; the "
            "highest agreement a vote reached was %s); %s",
            minimum,
            len(kept),
            opts.n,
            rounds,
            report["reach_rate"],
            report["highest"],
            stop,
        )
    return kept_frame(kept, col), report


def kept_frame(kept: list[dict[str, Any]], col: str) -> pd.DataFrame:
    """The kept rows as generate's output frame (its columns, labels as objects, ``failed`` as bool)."""
    frame = pd.DataFrame(kept, columns=["text", col, "prompted_label", "topic", "teacher", *AGREEMENT_COLUMNS])
    frame[col] = pd.Series([row[col] for row in kept], dtype=object)  # from the rows: a None label stays None
    frame["failed"] = frame["failed"].astype(bool)
    return frame
