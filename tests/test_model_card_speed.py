"""The teacher's row of a model card, and the run report's speedup, from an annotate ledger: answers read from the
label cache took no teacher time, so a ledger with any gives no teacher speed (a rerun of ``make demo`` from the
cache had the teacher at 615 texts/s and the student "0.42x" as fast), and its cost includes their first cost."""

from __future__ import annotations

import pytest

from sxhub.cards import fmt, ledger_speed
from sxhub.model_card import speed_rows

ASKED = {"n_texts": 20, "requests": 60, "cached": 0, "seconds": 10.0, "cost_usd": 0.5, "cached_cost_usd": None}


def test_a_ledger_of_asked_answers_gives_speed_and_cost() -> None:
    assert ledger_speed(ASKED) == (2.0, pytest.approx(25_000.0))


def test_cached_answers_give_no_speed_and_count_their_first_cost() -> None:
    all_cached = {**ASKED, "requests": 0, "cached": 60, "seconds": 0.06, "cost_usd": 0.0, "cached_cost_usd": 0.5}
    assert ledger_speed(all_cached) == (None, pytest.approx(25_000.0))
    half = {**ASKED, "requests": 30, "cached": 30, "cost_usd": 0.25, "cached_cost_usd": 0.25}
    assert ledger_speed(half) == (None, pytest.approx(25_000.0))
    unpriced = {**half, "cost_usd": None, "cached_cost_usd": None}
    assert ledger_speed(unpriced) == (None, None)


def test_the_cards_teacher_row_says_the_cache_answered() -> None:
    row = speed_rows(teachers=["t"], ledger={**ASKED, "requests": 0, "cached": 60}, student=None)[0]
    assert row["texts_per_s"] == fmt(None) and "60 answers came from the label cache" in row["source"]
    asked = speed_rows(teachers=["t"], ledger=ASKED, student=None)[0]
    assert asked["texts_per_s"] == "2.00" and asked["source"] == "annotate ledger (all samples of all teachers)"
