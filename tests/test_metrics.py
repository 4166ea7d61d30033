"""Metrics: figures equal scikit-learn's and krippendorff's, edge cases give notes instead of crashes."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from sxhub.errors import InputError
from sxhub.metrics import format_report, inter_rater_alpha, most_split, score, set_alpha_with_note, summarize_votes

SENT = ["positive", "neutral", "negative"]
MULTI = ["Product", "Place", "Price", "Promotion"]


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    union = set(a) | set(b)
    return 1.0 - len(set(a) & set(b)) / len(union) if union else 0.0


def alpha_by_pairs(answers: list[list[Any]], distance: Callable[[Any, Any], float] = jaccard) -> float:
    """Krippendorff's alpha from its definition (pairs of values within units vs all pairs); ``None`` = missing.

    An independent reference for the label-set alpha: no value coding, no coincidence matrix, O(n^2) pairs.
    """
    units = [[row[u] for row in answers if row[u] is not None] for u in range(len(answers[0]))]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    observed = sum(
        sum(distance(u[i], u[j]) for i in range(len(u)) for j in range(len(u)) if i != j) / (len(u) - 1) for u in units
    )
    expected = sum(distance(values[i], values[j]) for i in range(n) for j in range(n) if i != j) / (n - 1)
    return 1.0 - observed / expected


def test_single_label_figures_match_sklearn_and_krippendorff() -> None:
    gold = ["positive", "neutral", "negative", "neutral", "neutral", "positive", "negative", "neutral"]
    pred = ["positive", "neutral", "neutral", "neutral", "positive", "positive", "negative", "negative"]
    r = score(gold, pred, SENT, multi_label=False)
    assert r["n"] == 8 and r["labels"] == SENT and r["multi_label"] is False
    assert r["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert r["micro_f1"] == r["accuracy"]
    assert r["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    assert r["weighted_f1"] == pytest.approx(f1_score(gold, pred, average="weighted"))
    ids = {n: i for i, n in enumerate(SENT)}
    expected = krippendorff.alpha([[ids[g] for g in gold], [ids[p] for p in pred]], level_of_measurement="nominal")
    assert r["krippendorff_alpha"] == pytest.approx(expected)
    assert r["confusion_matrix"][ids["neutral"]] == [1, 2, 1]  # rows gold, cols pred in label order
    assert r["per_label"]["negative"]["support"] == 2
    json.dumps(r)  # JSON-able


def test_label_absent_from_gold_and_pred_gets_zero_not_a_crash() -> None:
    r = score(["a", "b", "a"], ["a", "b", "b"], ["a", "b", "c"], multi_label=False)
    assert r["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == pytest.approx(f1_score(["a", "b", "a"], ["a", "b", "b"], average="macro"))
    assert r["confusion_matrix"][2] == [0, 0, 0]


def test_single_class_alpha_is_none_with_a_note() -> None:
    r = score(["a", "a", "a"], ["a", "a", "a"], ["a", "b"], multi_label=False)
    assert r["accuracy"] == 1.0
    assert r["krippendorff_alpha"] is None and "undefined" in r["alpha_note"]
    assert "undefined" in format_report(r) and "| Krippendorff's alpha (vs gold) | n/a |" in format_report(r)


def test_empty_or_mismatched_or_unknown_input_is_a_user_error() -> None:
    with pytest.raises(InputError, match="nothing to score"):
        score([], [], SENT, multi_label=False)
    with pytest.raises(InputError, match="in pairs"):
        score(["positive"], [], SENT, multi_label=False)
    with pytest.raises(InputError, match=r"\['bullish'\] are not among"):
        score(["positive"], ["bullish"], SENT, multi_label=False)
    with pytest.raises(InputError, match="no label names"):
        score(["positive"], ["positive"], [], multi_label=False)


def test_multi_label_figures_match_sklearn() -> None:
    gold = [["Product"], ["Price", "Promotion"], [], ["Place", "Product"], ["Price"]]
    pred = [["Product", "Price"], ["Promotion"], [], ["Place", "Product"], ["Place"]]
    r = score(gold, pred, MULTI, multi_label=True)
    y_true = np.array([[int(n in g) for n in MULTI] for g in gold])
    y_pred = np.array([[int(n in p) for n in MULTI] for p in pred])
    assert r["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert r["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert r["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert r["krippendorff_alpha"] == pytest.approx(alpha_by_pairs([gold, pred]))  # label sets, Jaccard distance
    assert r["confusion_matrices"]["Price"] == [[2, 1], [2, 0]]  # [[tn, fp], [fn, tp]]
    assert r["confusion_matrices"]["Place"] == [[3, 1], [0, 1]]
    assert "confusion_matrix" not in r
    report = format_report(r)
    assert "subset accuracy" in report and "micro-F1" in report and "| Price |" in report


def test_label_set_alpha_with_one_label_each_is_nominal_alpha() -> None:
    """Krippendorff's own example (3 coders, missing values): singleton sets give exactly the nominal alpha."""
    data = [
        [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
        [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
        [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
    ]
    sets = [[None if x is None else [f"L{x}"] for x in row] for row in data]
    nominal = krippendorff.alpha(
        [[np.nan if x is None else x for x in row] for row in data], level_of_measurement="nominal"
    )
    assert set_alpha_with_note(sets)[0] == pytest.approx(nominal) == pytest.approx(0.691358, abs=1e-6)


def test_labels_nobody_named_do_not_raise_multi_label_alpha() -> None:
    """Ten labels no rater uses: flattened binary units would lift alpha; label sets leave it where it is."""
    rng = np.random.default_rng(1)
    gold, pred = [], []
    for _ in range(40):
        truth = [n for n in "abc" if rng.random() < 0.4]
        gold.append(truth)
        pred.append([n for n in "abc" if (n in truth) != (rng.random() < 0.2)])
    used, padded = list("abc"), [*"abc", *(f"unused{i}" for i in range(10))]
    assert score(gold, pred, padded, multi_label=True)["krippendorff_alpha"] == pytest.approx(
        score(gold, pred, used, multi_label=True)["krippendorff_alpha"]
    )

    def flat(names: list[str]) -> float:
        hot = [[[int(n in row) for n in names] for row in rows] for rows in (gold, pred)]
        return krippendorff.alpha([np.ravel(hot[0]), np.ravel(hot[1])], level_of_measurement="nominal")

    assert flat(padded) > flat(used) + 0.1  # what counting all-off labels as agreement would have reported


def test_multi_label_unused_label_left_out_of_macro() -> None:
    r = score([["Product"], ["Price"]], [["Product"], ["Product"]], MULTI, multi_label=True)
    assert r["per_label"]["Promotion"]["f1"] == 0.0
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)  # Product 2/3, Price 0; Place/Promotion unused


def test_format_report_single_label_has_confusion_matrix() -> None:
    r = score(["positive", "negative"], ["positive", "neutral"], SENT, multi_label=False)
    r |= {"inter_rater_alpha": 0.5, "n_failed": 3, "notes": ["3 failed rows left out"]}
    report = format_report(r)
    assert "| accuracy | 0.5000 |" in report
    assert "| Krippendorff's alpha (between raters) | 0.5000 |" in report
    assert "| failed rows left out | 3 |" in report
    assert "| gold \\ predicted | positive | neutral | negative |" in report
    assert "| negative | 0 | 1 | 0 |" in report
    assert "- note: 3 failed rows left out" in report


def v(teacher: str, sample: int, labels: list[str] | None) -> dict:
    return {"teacher": teacher, "sample": sample, "labels": labels, "reason": "", "error": "" if labels else "x"}


def test_inter_rater_alpha_coders_are_teacher_sample_pairs_and_failed_is_missing() -> None:
    column = [
        [v("A", 0, ["positive"]), v("A", 1, ["positive"]), v("B", 0, ["neutral"])],
        [v("A", 0, ["negative"]), v("A", 1, None), v("B", 0, ["negative"])],
        [v("A", 0, ["neutral"]), v("A", 1, ["neutral"]), v("B", 0, ["neutral"])],
    ]
    expected = krippendorff.alpha(
        [[0, 2, 1], [0, math.nan, 1], [1, 2, 1]], level_of_measurement="nominal"
    )  # rows (A,0), (A,1), (B,0); ids positive=0 neutral=1 negative=2
    assert inter_rater_alpha(column, SENT, multi_label=False) == pytest.approx(expected)


def test_inter_rater_alpha_multi_label_and_undefined_cases() -> None:
    column = [[v("A", 0, ["Price"]), v("B", 0, ["Price", "Place"])], [v("A", 0, []), v("B", 0, [])]]
    # by hand: D_o = (0.5 + 0.5) / 4, D_e = 2 * (0.5 + 4 * 1.0) / (4 * 3): alpha = 1 - 0.25 / 0.75
    assert inter_rater_alpha(column, MULTI, multi_label=True) == pytest.approx(2 / 3)
    assert alpha_by_pairs([[["Price"], []], [["Price", "Place"], []]]) == pytest.approx(2 / 3)
    failed = [*column, [v("A", 0, ["Place"]), v("B", 0, None)]]  # a failed vote is missing, not an empty set
    assert inter_rater_alpha(failed, MULTI, multi_label=True) == pytest.approx(2 / 3)
    assert inter_rater_alpha([[v("A", 0, ["positive"])]], SENT, multi_label=False) is None  # one coder
    same = [[v("A", 0, ["neutral"]), v("B", 0, ["neutral"])]] * 3
    assert inter_rater_alpha(same, SENT, multi_label=False) is None  # one value only


def test_most_split_ranks_lowest_agreement_then_most_answers() -> None:
    rows = [
        {"text": "calm", "label": "neutral", "votes": [v("A", 0, ["neutral"]), v("A", 1, ["neutral"])]},
        {
            "text": "three-way",
            "label": "positive",
            "votes": [v("A", 0, ["positive"]), v("A", 1, ["neutral"]), v("A", 2, ["negative"])],
        },
        {
            "text": "two-way",
            "label": "positive",
            "votes": [v("A", 0, ["positive"]), v("A", 1, ["positive"]), v("A", 2, ["negative"])],
        },
        {
            "text": "one-third, two answers",
            "label": "negative",
            "agreement": 1 / 3,
            "votes": [v("A", 0, ["negative"]), v("A", 1, None), v("A", 2, ["neutral"])],
        },
        {"text": "failed", "label": None, "failed": True, "votes": [v("A", 0, None)]},
    ]
    top = most_split(rows, 3)
    assert [r["text"] for r in top] == ["three-way", "one-third, two answers", "two-way"]
    assert top[0]["agreement"] == pytest.approx(1 / 3, abs=1e-4) and top[0]["n_answers"] == 3
    assert top[1]["votes"] == "negative ×1 | neutral ×1 | failed ×1"
    assert most_split(rows, 0) == []


def test_most_split_multi_label_agreement_dict() -> None:
    rows = [
        {"text": "x", "labels": ["Price"], "agreement": {"Price": 1.0, "Place": 0.5}, "votes": []},
        {"text": "y", "labels": [], "agreement": {"Price": 1.0, "Place": 1.0}, "votes": []},
    ]
    top = most_split(rows, 5)
    assert [r["text"] for r in top] == ["x", "y"] and top[0]["label"] == "Price" and top[0]["agreement"] == 0.75


def test_most_split_ignores_labels_no_vote_named() -> None:
    """A label every vote left off (None in the agreement dict) is not agreement: 0.5 stays 0.5."""
    rows = [
        {"text": "split", "labels": [], "agreement": {"Price": 0.5, "Place": None, "Product": None}, "votes": []},
        {
            "text": "sure",
            "labels": ["Place"],
            "agreement": {"Price": None, "Place": 1.0, "Product": 0.75},
            "votes": [],
        },
    ]
    top = most_split(rows, 2)
    assert [(r["text"], r["agreement"]) for r in top] == [("split", 0.5), ("sure", 0.875)]


def test_summarize_votes_names_empty_answers() -> None:
    assert summarize_votes([v("A", 0, []), v("A", 1, ["Price", "Place"])]) == "(none) ×1 | Place, Price ×1"


def test_alpha_equals_the_krippendorff_package_with_missing_values_and_undefined_cases() -> None:
    """sxhub sums the coincidence matrix itself (the package's units x values x values array does not fit in memory
    for large label-set data); on random data with missing values, 2-5 coders and 1-5 values, the figure is the
    package's, and where the package finds alpha undefined so does sxhub."""
    from sxhub.metrics import alpha_with_note

    rng = np.random.default_rng(0)
    for _ in range(300):
        coders, units, values = rng.integers(2, 6), rng.integers(1, 40), rng.integers(1, 6)
        data = rng.integers(0, values, size=(coders, units)).astype(float)
        data[rng.random((coders, units)) < rng.random() * 0.6] = np.nan
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                expected = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
        except ValueError:
            expected = math.nan
        value, note = alpha_with_note(data)
        if math.isnan(expected):
            assert value is None and note
        else:
            assert value == pytest.approx(expected, abs=1e-12) and note == ""


@pytest.mark.parametrize("multi", [True, False])
def test_a_label_neither_in_gold_nor_predicted_has_no_f1_in_the_per_label_table(multi: bool) -> None:
    """``sxhub evaluate`` on 200 GoEmotions texts (28 labels): grief and nervousness had no text in the test split
    and the student never gave them, and the per-label table showed them as precision, recall and F1 0.0000, as if
    the student failed on them, though nothing was there to score and the macro-F1 above it leaves them out (the
    rows' F1s averaged to 0.053, the macro-F1 said 0.057). Such a label's figures are shown as undefined, with a
    note saying why; a label in gold that the student never gives keeps its 0.0000 (it is a miss)."""
    from sxhub.metrics import unscored_labels

    if multi:
        gold: list[Any] = [["Product"], ["Product", "Place"], [], ["Place"]]
        pred: list[Any] = [["Product"], ["Product"], ["Product"], []]
        names = MULTI  # Price: nowhere; Promotion: nowhere
    else:
        gold, pred, names = ["positive", "neutral", "neutral"], ["positive", "positive", "neutral"], SENT
    r = score(gold, pred, names, multi)
    absent = ["Price", "Promotion"] if multi else ["negative"]
    assert unscored_labels(r) == absent
    report = format_report(r)
    for name in absent:
        assert f"| {name} | – | – | – | 0 |" in report
    missed = "Place" if multi else "neutral"  # in gold: its figures stay, whatever they are
    assert f"| {missed} | 0.0000 |" in report or f"| {missed} | 1.0000 |" in report
    assert "not in the reference labels and never predicted: no precision, recall or F1" in report
    # the JSON keeps scikit-learn's zero_division=0 figures (scripts read them); the table is what misled
    assert r["per_label"][absent[0]]["f1"] == 0.0


def test_one_string_for_a_list_is_refused_in_one_line() -> None:
    # score("pos", "pos", ...) read each string letter by letter: "gold label(s) ['o', 'p', 's'] are not among ..."
    labels = ["positive", "negative"]
    calls = [
        ("gold= takes a list of labels, not one string: pass ['positive'].", ("positive", ["positive"], labels)),
        ("pred= takes a list of labels, not one string: pass ['positive'].", (["positive"], "positive", labels)),
        ("label_names= takes a list of names, not one string: pass ['ab'].", (["a"], ["a"], "ab")),
    ]
    for message, (gold, pred, names) in calls:
        with pytest.raises(InputError) as refused:
            score(gold, pred, names, multi_label=False)
        assert str(refused.value) == message
    assert score(("positive",), ("positive",), tuple(labels), multi_label=False)["accuracy"] == 1.0
