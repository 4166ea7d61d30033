"""Voting: majority, the documented tie rules, multi-label strict majority, failed votes, summaries; the scores rule."""

from __future__ import annotations

import pytest

from sxhub.vote import Decision, decide, decide_by_scores, mean_agreement, summarize, vote_scores

SENT = ["positive", "neutral", "negative"]
MULTI = ["Product", "Place", "Price", "Promotion"]


def vote(labels: list[str] | None, teacher: str = "t1", sample: int = 0, error: str = "") -> dict:
    return {"teacher": teacher, "sample": sample, "labels": labels, "reason": "", "error": error, "raw": ""}


def votes_of(*answers: str | None) -> list[dict]:
    """Single-label votes in order; ``None`` is a failed vote."""
    return [
        vote(None if a is None else [a], teacher=f"t{i // 3}", sample=i % 3, error="" if a else "timeout")
        for i, a in enumerate(answers)
    ]


def test_single_label_majority_and_agreement() -> None:
    d = decide(votes_of("neutral", "positive", "neutral"), SENT, multi_label=False)
    assert d == Decision(
        label="neutral", labels=None, agreement=pytest.approx(2 / 3), failed=False, error="", tie=False, n_valid=3
    )


def test_unanimous_single_label() -> None:
    d = decide(votes_of("negative", "negative"), SENT, multi_label=False)
    assert (d.label, d.agreement, d.tie) == ("negative", 1.0, False)


def test_single_label_tie_goes_to_earliest_valid_vote() -> None:
    d = decide(votes_of("positive", "negative", "negative", "positive"), SENT, multi_label=False)
    assert (d.label, d.agreement, d.tie) == ("positive", 0.5, True)
    d = decide(votes_of("negative", "positive", "positive", "negative"), SENT, multi_label=False)
    assert (d.label, d.tie) == ("negative", True)


def test_tie_break_skips_failed_and_non_top_votes() -> None:
    # the first vote failed, the second is not among the tied top labels: the third decides
    d = decide(votes_of(None, "neutral", "negative", "positive", "positive", "negative"), SENT, multi_label=False)
    assert (d.label, d.tie, d.n_valid) == ("negative", True, 5)
    assert d.agreement == pytest.approx(2 / 5)


def test_failed_votes_are_not_counted() -> None:
    d = decide(votes_of(None, None, "positive"), SENT, multi_label=False)
    assert (d.label, d.agreement, d.n_valid, d.failed, d.error) == ("positive", 1.0, 1, False, "")


def test_all_failed_is_a_failed_decision_with_the_errors() -> None:
    votes = [
        vote(None, error="timeout"),
        vote(None, sample=1, error="bad JSON"),
        vote(None, sample=2, error="timeout"),
    ]
    d = decide(votes, SENT, multi_label=False)
    assert d.failed and d.label is None and d.labels is None
    assert d.error == "timeout; bad JSON"
    assert (d.n_valid, d.agreement, d.tie) == (0, 0.0, False)


def test_no_votes_at_all() -> None:
    d = decide([], SENT, multi_label=False)
    assert (d.failed, d.error, d.label) == (True, "no votes", None)
    d = decide([], MULTI, multi_label=True)
    assert (d.failed, d.labels, d.agreement) == (True, None, dict.fromkeys(MULTI, 0.0))


def test_unknown_label_or_two_labels_do_not_count() -> None:
    votes = [vote(["bullish"]), vote(["positive", "negative"], sample=1)]
    d = decide(votes, SENT, multi_label=False)
    assert d.failed and d.label is None
    assert "bullish" in d.error and "exactly one" in d.error
    d = decide([*votes, vote(["neutral"], sample=2)], SENT, multi_label=False)
    assert (d.label, d.n_valid, d.failed) == ("neutral", 1, False)


def test_multi_label_strict_majority_and_per_label_agreement() -> None:
    votes = [vote(["Price", "Product"]), vote(["Price"], sample=1), vote(["Price", "Place"], sample=2)]
    d = decide(votes, MULTI, multi_label=True)
    assert d.label is None and d.labels == ["Price"]  # Product and Place 1/3: off
    # Promotion: no vote named it, so there is nothing to agree on (None), not a free 1.0
    assert d.agreement == {
        "Product": pytest.approx(2 / 3),
        "Place": pytest.approx(2 / 3),
        "Price": 1.0,
        "Promotion": None,
    }
    assert (d.tie, d.n_valid) == (False, 3)
    assert d.mean_agreement == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)


def test_labels_every_vote_left_off_are_not_agreement() -> None:
    """Two votes that disagree on the one label they named: 0.5, however many other labels the task has."""
    many = [f"L{i}" for i in range(20)]
    d = decide([vote(["L0"]), vote([], sample=1)], many, multi_label=True)
    assert d.agreement["L0"] == 0.5 and all(d.agreement[n] is None for n in many[1:])
    assert d.mean_agreement == 0.5  # counting the 19 all-off labels as agreement would give 0.975
    assert summarize([d])["unanimous"] == 0


def test_all_votes_naming_no_label_agree_on_the_empty_answer() -> None:
    d = decide([vote([]), vote([], sample=1)], MULTI, multi_label=True)
    assert (d.labels, d.agreement) == ([], dict.fromkeys(MULTI))
    assert d.mean_agreement == 1.0 and summarize([d])["unanimous"] == 1


def test_mean_agreement_of_stored_cells() -> None:
    """The one-number-per-text rule applied to cells read back from parquet / CSV / JSON."""
    assert mean_agreement({"a": 1.0, "b": 0.5, "c": None}) == 0.75
    assert mean_agreement({"a": 1.0, "b": float("nan")}) == 1.0  # NaN (pandas' missing) is "never named" too
    assert mean_agreement({"a": None, "b": None}) == 1.0
    assert mean_agreement(0.5) == 0.5 and mean_agreement("0.25") == 0.25  # a CSV cell
    assert mean_agreement(None) is None and mean_agreement(float("nan")) is None and mean_agreement("") is None
    assert mean_agreement({}) is None


def test_multi_label_half_is_a_tie_and_off() -> None:
    votes = [
        vote(["Price", "Promotion"]),
        vote(["Price"], sample=1),
        vote(["Promotion", "Price"], sample=2),
        vote([], sample=3),
    ]
    d = decide(votes, MULTI, multi_label=True)
    assert d.labels == ["Price"]  # Price 3/4 on; Promotion exactly 2/4: tie → off
    assert d.tie is True
    assert d.agreement["Promotion"] == 0.5 and d.agreement["Price"] == 0.75
    assert d.agreement["Product"] is None and d.agreement["Place"] is None


def test_multi_label_empty_votes_mean_no_label() -> None:
    d = decide([vote([]), vote([], sample=1), vote(["Place"], sample=2)], MULTI, multi_label=True)
    assert (d.labels, d.failed, d.tie) == ([], False, False)
    assert d.agreement["Place"] == pytest.approx(2 / 3)


def test_multi_label_labels_follow_label_order_and_duplicates_count_once() -> None:
    d = decide([vote(["Promotion", "Product", "Product"]), vote(["Promotion", "Product"], sample=1)], MULTI, True)
    assert d.labels == ["Product", "Promotion"]
    assert d.agreement["Product"] == 1.0


def test_multi_label_failed_votes_ignored() -> None:
    d = decide([vote(None, error="timeout"), vote(["Place"], sample=1)], MULTI, multi_label=True)
    assert (d.labels, d.n_valid) == (["Place"], 1)


def test_summarize_counts() -> None:
    decisions = [
        decide(votes_of("positive", "positive", "positive"), SENT, False),
        decide(votes_of("positive", "negative"), SENT, False),  # tie
        decide(votes_of("neutral", "neutral", "negative"), SENT, False),
        decide(votes_of(None, None), SENT, False),  # failed
    ]
    s = summarize(decisions)
    assert (s["n"], s["decided"], s["failed"], s["ties"], s["unanimous"]) == (4, 3, 1, 1, 1)
    assert s["mean_agreement"] == pytest.approx((1.0 + 0.5 + 2 / 3) / 3)
    assert s["min_agreement"] == 0.5
    assert s["tie_rate"] == pytest.approx(1 / 3)
    assert s["mean_valid_votes"] == pytest.approx((3 + 2 + 3 + 0) / 4)
    assert s["label_counts"] == {"positive": 2, "neutral": 1}


def test_summarize_multi_label_and_empty() -> None:
    d = decide([vote(["Price"]), vote(["Price", "Place"], sample=1)], MULTI, multi_label=True)
    s = summarize([d])
    assert s["ties"] == 1 and s["label_counts"] == {"Price": 1}
    assert s["mean_agreement"] == pytest.approx((1.0 + 0.5) / 2)  # Product and Promotion: named by no vote
    empty = summarize([])
    assert (empty["n"], empty["mean_agreement"], empty["tie_rate"]) == (0, None, 0.0)


def test_decision_to_dict_is_plain() -> None:
    d = decide(votes_of("neutral"), SENT, multi_label=False)
    assert d.to_dict()["label"] == "neutral" and d.to_dict()["failed"] is False


# ----------------------------------------------------------------------------------------------------------------
# vote: scores (a soft vote on the label scores a tuned teacher gives)
# ----------------------------------------------------------------------------------------------------------------
def scored(label: str, probs: dict[str, float], sample: int = 0, teacher: str = "tuned") -> dict:
    """A scoring teacher's vote: the label it drew and the scores it drew it from (vote_scores' layout)."""
    return {**vote([label], teacher=teacher, sample=sample), "scores": vote_scores(probs, SENT)}


def test_scores_decide_by_the_mean_distribution_not_by_the_drawn_labels() -> None:
    """Three draws at temperature 1 from (0.6 positive, 0.4 neutral) that came out neutral twice: the scores rule
    gives the model's own most probable label and its probability; the majority rule counts the draws."""
    probs = {"positive": 0.6, "neutral": 0.4, "negative": 0.0}
    votes = [scored("neutral", probs), scored("positive", probs, sample=1), scored("neutral", probs, sample=2)]
    assert decide(votes, SENT, multi_label=False).label == "neutral"
    d = decide_by_scores(votes, SENT, multi_label=False)
    assert d == Decision(
        label="positive", labels=None, agreement=pytest.approx(0.6), failed=False, error="", tie=False, n_valid=3
    )


def test_scores_mix_scored_votes_with_one_hots_of_other_teachers() -> None:
    """A teacher without scores counts as a one-hot: (0.55 + 0 + 0) / 3 positive against (0.45 + 1 + 1) / 3 neutral."""
    votes = [
        scored("positive", {"positive": 0.55, "neutral": 0.45, "negative": 0.0}),
        vote(["neutral"], teacher="llm"),
        vote(["neutral"], teacher="llm", sample=1),
    ]
    d = decide_by_scores(votes, SENT, multi_label=False)
    assert (d.label, d.n_valid) == ("neutral", 3) and d.agreement == pytest.approx(2.45 / 3)


def test_scores_without_any_scored_vote_is_the_majority_rule() -> None:
    for answers in [
        ("neutral", "positive", "neutral"),
        ("positive", "negative", "negative", "positive"),  # a tie: the earliest valid vote
        (None, "neutral", "negative", "positive", "positive", "negative"),
        (None, None),
    ]:
        votes = votes_of(*answers)
        assert decide_by_scores(votes, SENT, multi_label=False) == decide(votes, SENT, multi_label=False)
    multi = [
        vote(["Price", "Promotion"]),
        vote(["Price"], sample=1),
        vote(["Promotion"], sample=2),
        vote([], sample=3),
    ]
    assert decide_by_scores(multi, MULTI, multi_label=True) == decide(multi, MULTI, multi_label=True)


def test_scores_skip_failed_and_invalid_votes_and_renormalise() -> None:
    votes = [
        vote(None, error="timeout"),
        {**vote(["unknown"]), "scores": vote_scores({"positive": 1.0}, SENT)},  # an invalid vote: left out, scores too
        scored("negative", {"positive": 0.2, "neutral": 0.2, "negative": 0.4}, sample=1),  # sums to 0.8: renormalised
    ]
    d = decide_by_scores(votes, SENT, multi_label=False)
    assert (d.label, d.n_valid, d.failed) == ("negative", 1, False) and d.agreement == pytest.approx(0.5)
    failed = decide_by_scores([vote(None, error="timeout")], SENT, multi_label=False)
    assert failed.failed and failed.label is None and failed.error == "timeout"


def test_scores_tie_goes_to_the_earliest_valid_vote_then_label_order() -> None:
    even = {"positive": 0.5, "neutral": 0.0, "negative": 0.5}
    d = decide_by_scores([scored("negative", even), scored("positive", even, sample=1)], SENT, multi_label=False)
    assert (d.label, d.tie, d.agreement) == ("negative", True, 0.5)
    d = decide_by_scores([scored("neutral", {"positive": 0.4, "neutral": 0.2, "negative": 0.4})], SENT, False)
    assert (d.label, d.tie) == ("positive", True)  # the vote's own label is not tied: label order decides


def test_scores_multi_label_marginals() -> None:
    """Multi-label scores are each label's probability of being on; the mean decides at one half."""

    def on(labels: list[str], probs: dict[str, float], sample: int = 0) -> dict:
        return {**vote(labels, sample=sample), "scores": vote_scores(probs, MULTI)}

    votes = [
        on(["Price"], {"Product": 0.1, "Place": 0.0, "Price": 0.9, "Promotion": 0.6}),
        on(["Price", "Promotion"], {"Product": 0.1, "Place": 0.0, "Price": 0.9, "Promotion": 0.4}, sample=1),
    ]
    d = decide_by_scores(votes, MULTI, multi_label=True)
    assert d.labels == ["Price"] and d.tie is True  # Promotion's mean is exactly 0.5: a tie, off
    assert d.agreement == {
        "Product": pytest.approx(0.9),
        "Place": 1.0,  # scored 0 by every vote: considered, and agreed off (not None)
        "Price": pytest.approx(0.9),
        "Promotion": pytest.approx(0.5),
    }
