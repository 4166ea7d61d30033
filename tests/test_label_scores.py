"""Label scores from a teacher that scores labels (the tuned teacher of ``sxhub tune``): carried by the reply, kept
by the cache, written into each vote (in memory and through the Parquet parts) and used by ``--soft-labels``.

The scoring teacher here is the scripted fake with fixed probabilities, so no model is loaded; the tuned teacher's
own scores are checked in ``test_tune.py``."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sxhub.annotate import annotate
from sxhub.cache import LabelCache
from sxhub.data import read_table
from sxhub.labelled import load_labelled
from sxhub.parts import annotate_to_file
from sxhub.spec import TaskSpec
from sxhub.targets import vote_shares
from sxhub.teachers import FakeTeacher, Reply
from sxhub.vote import scores_of

LABELS = ["positive", "neutral", "negative"]
SPEC = TaskSpec.from_dict({"name": "fin", "labels": LABELS, "samples": 2})
PROBS = {
    "Profit rose.": {"positive": 0.7, "neutral": 0.2, "negative": 0.1},
    "Sales fell.": {"positive": 0.05, "neutral": 0.15, "negative": 0.8},
}


class ScoringFake(FakeTeacher):
    """The fake teacher answering the most probable label, with the label probabilities on the reply."""

    scores_labels = True

    async def acomplete(self, messages: list[dict[str, str]], **kwargs: Any) -> Reply:
        reply = await super().acomplete(messages, **kwargs)
        text = next(t for t in PROBS if t in messages[-1]["content"])
        return dataclasses.replace(reply, scores=PROBS[text])


def most_probable(messages: list[dict[str, str]]) -> dict[str, str]:
    probs = next(p for t, p in PROBS.items() if t in messages[-1]["content"])
    return {"label": max(probs, key=probs.__getitem__)}


def expected_cells(text: str) -> list[dict[str, Any]]:
    return [{"label": name, "p": PROBS[text][name]} for name in LABELS]


def test_votes_carry_the_scores_in_label_order_and_a_cached_rerun_keeps_them(tmp_path: Path) -> None:
    texts = list(PROBS)
    first = annotate(
        SPEC, texts, teachers=[ScoringFake(responder=most_probable)], cache=tmp_path / "c", progress=False
    )
    for row, text in zip(first.rows, texts, strict=True):
        assert [v["scores"] for v in row["votes"]] == [expected_cells(text)] * 2
        assert scores_of(row["votes"][0]) == PROBS[text]
    # served from the cache alone: the fake has nothing to answer with, the scores come back from sqlite
    again = annotate(SPEC, texts, teachers=[ScoringFake()], cache=tmp_path / "c", progress=False)
    assert [r["votes"] for r in again.rows] == [r["votes"] for r in first.rows]


def test_without_a_scoring_teacher_votes_keep_their_contract(tmp_path: Path) -> None:
    result = annotate(
        SPEC, ["Profit rose."], teachers=[FakeTeacher(responder=most_probable)], cache=False, progress=False
    )
    assert set(result.rows[0]["votes"][0]) == {"teacher", "sample", "labels", "reason", "error", "raw"}


def test_a_failed_vote_of_a_scoring_teacher_has_no_scores(tmp_path: Path) -> None:
    fake = ScoringFake(responder=lambda m: "no idea")
    result = annotate(SPEC, ["Profit rose."], teachers=[fake], cache=False, progress=False, max_invalid=0)
    assert result.rows[0]["failed"] and [v["scores"] for v in result.rows[0]["votes"]] == [None, None]


def test_scores_survive_the_parquet_parts_and_soft_labels_average_them(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": list(PROBS)}).to_csv(source, index=False)
    out = tmp_path / "labelled.parquet"
    annotate_to_file(
        SPEC, source, out, teachers=[ScoringFake(responder=most_probable)], cache=tmp_path / "c", progress=False
    )
    frame = read_table(str(out))
    assert [scores_of(v) for v in frame["votes"][0]] == [PROBS["Profit rose."]] * 2
    data = load_labelled(frame, label_names=LABELS, multi_label=False)
    np.testing.assert_allclose(vote_shares(data), [list(PROBS[t].values()) for t in PROBS], rtol=1e-6)


def test_soft_labels_mix_scored_and_counted_votes() -> None:
    """A vote without scores counts as a one-hot of its label, one with scores as its probabilities."""
    scored = {"teacher": "tuned", "sample": 0, "labels": ["positive"], "reason": "", "error": "", "raw": ""}
    scored["scores"] = [{"label": n, "p": p} for n, p in zip(LABELS, (0.6, 0.3, 0.1), strict=True)]
    counted = {"teacher": "remote", "sample": 0, "labels": ["neutral"], "reason": "", "error": "", "raw": ""}
    frame = pd.DataFrame({"text": ["a"], "label": ["positive"], "votes": [json.dumps([scored, counted])]})
    data = load_labelled(frame, label_names=LABELS, multi_label=False)
    np.testing.assert_allclose(vote_shares(data), [[0.3, 0.65, 0.05]], rtol=1e-6)


def test_a_cache_from_before_scores_opens_and_gains_the_column(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    db = sqlite3.connect(folder / "labels.sqlite")
    db.execute(
        "CREATE TABLE replies (key TEXT PRIMARY KEY, teacher TEXT, text TEXT NOT NULL, "
        "input_tokens INTEGER, output_tokens INTEGER, created REAL)"
    )
    db.execute("INSERT INTO replies VALUES ('k', 't', '{\"label\": \"neutral\"}', 3, 4, 0)")
    db.commit()
    db.close()
    with LabelCache(folder) as cache:
        assert cache.get("k") == Reply(text='{"label": "neutral"}', input_tokens=3, output_tokens=4)
        cache.put("s", Reply(text="x", scores={"neutral": 1.0}))
        got = cache.get("s")
        assert got is not None and got.scores == {"neutral": 1.0}


@pytest.mark.parametrize("cells", [None, [], np.array([], dtype=object)])
def test_a_vote_without_scores_reads_as_none(cells: Any) -> None:
    assert scores_of({"labels": ["neutral"], "scores": cells}) is None
    assert scores_of({"labels": ["neutral"]}) is None


def test_vote_scores_in_parts_is_not_told_the_majority_counts_the_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`annotate --vote scores` with a tuned teacher warned 'its 2 samples ... are draws from its scores and the
    majority counts them; --vote scores ... labels each text by its most probable label instead': the parts label
    each chunk with a copy of the spec whose vote was set to majority (only Dawid-Skene needs every vote, at
    assembly). The warning now sees the run's rule: given for majority, not for scores."""
    import sxhub.annotate_engine as annotate_module

    source = tmp_path / "in.csv"
    pd.DataFrame({"text": list(PROBS)}).to_csv(source, index=False)
    for vote, warned in (("scores", False), ("majority", True)):
        monkeypatch.setattr(annotate_module, "_WARNED", set())
        caplog.clear()
        spec = SPEC.with_vote(vote)
        out = tmp_path / f"{vote}.parquet"
        annotate_to_file(
            spec, source, out, teachers=[ScoringFake(responder=most_probable)], cache=False, progress=False
        )
        assert ("majority counts them" in caplog.text) is warned, (vote, caplog.text)
        frame = read_table(str(out))
        if vote == "scores":  # each text's most probable label, its probability as the agreement
            assert list(frame["label"]) == ["positive", "negative"]
            np.testing.assert_allclose(frame["agreement"], [0.7, 0.8])
