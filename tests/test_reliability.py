"""Per-teacher reliability and Dawid-Skene votes (sxhub.reliability), in annotate and ``sxhub agree``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from sxhub.annotate import annotate
from sxhub.errors import InputError, SpecError
from sxhub.metrics import score
from sxhub.reliability import decide_all, format_reliability, teacher_reliability
from sxhub.spec import TaskSpec
from sxhub.teachers import FakeTeacher
from sxhub.vote import decide

LABELS = ["positive", "neutral", "negative"]


def _vote(teacher: str, sample: int, labels: list[str] | None) -> dict:
    return {"teacher": teacher, "sample": sample, "labels": labels, "reason": "", "error": "" if labels else "boom"}


def one_bad_teacher(n: int = 400, seed: int = 0) -> tuple[list[list[dict]], list[str]]:
    """Two good teachers (one sample each, 90% and 80% right) and a bad one (40% right) whose three samples always
    agree: majority vote counts the bad teacher three times and follows it whenever the good ones disagree."""
    rng = np.random.default_rng(seed)
    truth = [LABELS[i] for i in rng.integers(0, 3, n)]

    def noisy(gold: str, accuracy: float) -> str:
        return gold if rng.random() < accuracy else str(rng.choice([x for x in LABELS if x != gold]))

    votes = []
    for gold in truth:
        bad = noisy(gold, 0.4)
        votes.append(
            [_vote("good", 0, [noisy(gold, 0.9)]), _vote("fair", 0, [noisy(gold, 0.8)])]
            + [_vote("bad", s, [bad]) for s in range(3)]
        )
    return votes, truth


def accuracy(decisions, truth) -> float:
    return float(np.mean([d.label == t for d, t in zip(decisions, truth, strict=True)]))


def test_dawid_skene_beats_majority_with_one_bad_teacher() -> None:
    votes, truth = one_bad_teacher()
    majority = accuracy(decide_all(votes, LABELS, False, method="majority"), truth)
    weighted = accuracy(decide_all(votes, LABELS, False, method="dawid-skene"), truth)
    assert majority < 0.6  # the bad teacher's three samples win whenever the good ones disagree
    assert weighted > 0.8 and weighted > majority + 0.25


def test_dawid_skene_keeps_the_vote_contract() -> None:
    votes, _ = one_bad_teacher(60)
    votes.append([_vote("good", 0, None), _vote("bad", 0, None)])  # every vote failed
    votes.append([_vote("good", 0, ["bullish"]), _vote("bad", 0, ["neutral"])])  # one invalid vote
    decisions = decide_all(votes, LABELS, False, method="dawid-skene")
    failed = decisions[-2]
    assert failed == decide(votes[-2], LABELS, False)
    assert failed.failed and failed.label is None and failed.error == "boom"
    assert decisions[-1].label == "neutral" and decisions[-1].n_valid == 1 and decisions[-1].agreement == 1.0
    for row, d in zip(votes[:-2], decisions[:-2], strict=True):  # agreement: the share of valid votes for the winner
        assert d.agreement == pytest.approx(sum(v["labels"] == [d.label] for v in row) / len(row))
        assert d.n_valid == 5 and not d.failed


def test_a_dawid_skene_posterior_tie_falls_back_to_the_majority_rule_for_multi_label_too() -> None:
    """Two teachers whose answers on a label mirror each other leave Dawid-Skene's posterior at exactly one half:
    single-label, such a tie falls back to the majority rule (module docstring); multi-label, the label was turned
    off whatever the votes said, though three of the four valid votes of the first text named it."""
    rows = [
        [*(_vote("t", s, ["price"]) for s in range(3)), _vote("u", 0, []), _vote("u", 1, None), _vote("u", 2, None)],
        [*(_vote("t", s, []) for s in range(3)), *(_vote("u", s, ["price"]) for s in range(3))],
    ]
    names = ["price", "service"]
    majority = [decide(row, names, True) for row in rows]
    assert majority[0].labels == ["price"] and not majority[0].tie  # 3 of 4 valid votes
    decisions = decide_all(rows, names, True, method="dawid-skene")
    for d, m in zip(decisions, majority, strict=True):
        assert d.tie  # the posterior tied
        assert d.labels == m.labels and d.agreement == m.agreement
    single = [
        [
            *(_vote("t", s, ["positive"]) for s in range(3)),
            _vote("u", 0, ["neutral"]),
            *(_vote("u", s, None) for s in (1, 2)),
        ],
        [*(_vote("t", s, ["neutral"]) for s in range(3)), *(_vote("u", s, ["positive"]) for s in range(3))],
    ]
    weighted = decide_all(single, LABELS, False, method="dawid-skene")
    assert weighted[0].tie and weighted[0].label == decide(single[0], LABELS, False).label == "positive"


def test_dawid_skene_with_fewer_than_three_teachers_says_the_vote_leans_on_the_prior(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dawid-Skene learns each teacher's errors from how the teachers disagree, which takes three teachers or more:
    with two, where they disagree on a multi-label label the label's prior decides, and a rare label is turned off.
    Here (three labels, each on 15% of 300 texts; two teachers of two samples, each flipping a label 20% of the time)
    it gets 0.73 of the texts' label sets exactly right against majority vote's 0.87. The vote ran without a word;
    it says so once, and names majority vote."""
    from conftest import sxhub_logged

    from sxhub import dawid_skene

    monkeypatch.setattr(dawid_skene, "_SAID_FEW", set())  # said once a process: an earlier test may have said it
    rng = np.random.default_rng(0)
    names = ["joy", "anger", "fear"]
    rows, truth = [], []
    for _ in range(300):
        gold = [n for n in names if rng.random() < 0.15]
        truth.append(set(gold))
        rows.append(
            [
                _vote(t, s, [n for n in names if (n in gold) != (rng.random() < 0.2)])
                for t in ("a", "b")
                for s in range(2)
            ]
        )
    exact = {
        m: np.mean([set(d.labels) == t for d, t in zip(decide_all(rows, names, True, method=m), truth, strict=True)])
        for m in ("majority", "dawid-skene")
    }
    assert exact["dawid-skene"] < exact["majority"] - 0.1, exact  # why it warns
    decide_all(rows, names, True, method="dawid-skene")
    said = [m for m in sxhub_logged(caplog) if "Dawid-Skene" in m]
    assert len(said) == 1, said  # once a process
    assert "2 teachers" in said[0] and "three or more" in said[0] and "vote: majority" in said[0], said
    caplog.clear()
    votes, _ = one_bad_teacher(60)  # three teachers: nothing to say
    decide_all(votes, LABELS, False, method="dawid-skene")
    assert not [m for m in sxhub_logged(caplog) if "Dawid-Skene" in m]
    monkeypatch.setattr(dawid_skene, "_SAID_FEW", set())
    # a card or agree sets Dawid-Skene's decisions beside majority vote's, the labels decided by majority: nothing
    # to warn of (publish dataset warned of "dawid-skene with 1 teacher" for a spec that never named it)
    final = [d.labels for d in decide_all(rows, names, True)]
    gold = [sorted(t) for t in truth]
    assert "dawid-skene" in json.dumps(teacher_reliability(rows, final, names, True, gold=gold, method="majority"))
    assert not [m for m in sxhub_logged(caplog) if "Dawid-Skene" in m]


def test_majority_is_vote_decide() -> None:
    votes, _ = one_bad_teacher(30)
    assert decide_all(votes, LABELS, False) == [decide(v, LABELS, False) for v in votes]


def test_multi_label_dawid_skene_per_label_beats_majority() -> None:
    rng = np.random.default_rng(1)
    names = ["price", "service", "delivery"]
    truth, votes = [], []
    for _ in range(300):
        gold = [n for n in names if rng.random() < 0.4]
        bad = [n for n in names if (n in gold) != (rng.random() < 0.45)]  # flips each label 45% of the time
        good = [n for n in names if (n in gold) != (rng.random() < 0.05)]
        fair = [n for n in names if (n in gold) != (rng.random() < 0.15)]
        truth.append(gold)
        votes.append([_vote("good", 0, good), _vote("fair", 0, fair), *(_vote("bad", s, bad) for s in range(3))])
    exact = {
        m: np.mean(
            [set(d.labels) == set(t) for d, t in zip(decide_all(votes, names, True, method=m), truth, strict=True)]
        )
        for m in ("majority", "dawid-skene")
    }
    assert exact["dawid-skene"] > exact["majority"] + 0.2
    d = decide_all(votes, names, True, method="dawid-skene")[0]
    assert set(d.agreement) == set(names)  # per label; None where no vote named the label
    for name in names:
        named = sum(name in v["labels"] for v in votes[0])
        if not named:
            assert d.agreement[name] is None
        else:
            agree = named if name in d.labels else 5 - named
            assert d.agreement[name] == pytest.approx(agree / 5)


def test_reliability_figures_per_teacher_and_sample() -> None:
    votes, truth = one_bad_teacher(120)
    final = [d.label for d in decide_all(votes, LABELS, False, method="dawid-skene")]
    result = teacher_reliability(votes, final, LABELS, False, gold=truth, method="dawid-skene")
    rows = {(r["teacher"], r["sample"]): r for r in result["teachers"]}
    assert list(rows) == [
        ("good", None),
        ("good", 0),
        ("fair", None),
        ("fair", 0),
        *(("bad", s) for s in (None, 0, 1, 2)),
    ]
    good = [v[0]["labels"][0] for v in votes]
    expected = score(truth, good, LABELS, False)
    for key in ("accuracy", "macro_f1", "krippendorff_alpha"):
        assert rows[("good", None)]["gold"][key] == pytest.approx(expected[key])
        assert rows[("good", 0)]["gold"][key] == pytest.approx(expected[key])
    assert rows[("good", None)]["agreement_with_vote"] == pytest.approx(
        np.mean([g == f for g, f in zip(good, final, strict=True)])
    )
    pooled_bad = [v[s]["labels"][0] for s in (2, 3, 4) for v in votes]
    assert rows[("bad", None)]["valid"] == 360
    assert rows[("bad", None)]["gold"]["accuracy"] == pytest.approx(
        np.mean([p == t for p, t in zip(pooled_bad, truth * 3, strict=True)])
    )
    per_label = rows[("good", None)]["gold"]["per_label"]["positive"]
    assert per_label["f1"] == pytest.approx(expected["per_label"]["positive"]["f1"])
    assert -1.0 <= per_label["alpha"] <= 1.0
    assert result["vote_vs_gold"]["dawid-skene"]["accuracy"] > result["vote_vs_gold"]["majority"]["accuracy"]
    estimates = result["dawid_skene"]["teachers"]
    assert estimates["good"]["estimated_accuracy"] > estimates["bad"]["estimated_accuracy"]
    text = format_reliability(result)
    assert "| good | all | 120/120 |" in text and "| dawid-skene | 120 |" in text


def test_reliability_counts_failed_votes_and_missing_gold() -> None:
    votes = [
        [_vote("a", 0, ["positive"]), _vote("a", 1, None)],
        [_vote("a", 0, ["negative"]), _vote("a", 1, ["negative"])],
    ]
    result = teacher_reliability(votes, ["positive", "negative"], LABELS, False, gold=["positive", None])
    pooled, _, s1 = result["teachers"]
    assert (pooled["votes"], pooled["valid"], pooled["agreement_with_vote"]) == (4, 3, 1.0)
    assert s1["valid"] == 1 and pooled["gold"]["n"] == 1  # the text without gold is not scored
    with pytest.raises(InputError, match="one entry per text"):
        teacher_reliability(votes, ["positive"], LABELS, False)


def test_without_crowd_kit_the_vote_against_gold_leaves_dawid_skene_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain install (no sxhub[review]) still scores the vote against gold, for `run --gold` and `publish dataset
    --gold`; it stopped with "dawid-skene needs crowd-kit" when only the comparison row needed it."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "crowdkit" else real(name, *a))
    votes = [[_vote("a", 0, ["positive"])], [_vote("a", 0, ["negative"])]]
    result = teacher_reliability(votes, ["positive", "negative"], LABELS, False, gold=["positive", "positive"])
    assert list(result["vote_vs_gold"]) == ["majority"] and result["vote_vs_gold"]["majority"]["accuracy"] == 0.5
    assert 'pip install "sxhub[review]"' in format_reliability(result)


def test_spec_vote_is_checked() -> None:
    with pytest.raises(SpecError, match="vote: 'weighted' is not a vote method; use majority or dawid-skene"):
        TaskSpec.from_dict({"name": "x", "labels": LABELS, "vote": "weighted"})


def test_annotate_decides_by_the_spec_vote(tmp_path: Path) -> None:
    """Scripted teachers answer as in :func:`one_bad_teacher`; annotate's labels are the spec's vote of its votes."""
    votes, _truth = one_bad_teacher(90, seed=2)
    texts = [f"Text number {i}." for i in range(len(votes))]

    def teacher(position: int) -> FakeTeacher:
        def answer(messages: list[dict[str, str]]) -> dict[str, str]:
            i = int(re.search(r"Text number (\d+)\.", messages[-1]["content"]).group(1))
            return {"label": votes[i][position]["labels"][0]}

        return FakeTeacher(name=votes[0][position]["teacher"], responder=answer)

    def labels(method: str) -> list[str]:
        spec = TaskSpec.from_dict({"name": "fin", "labels": LABELS, "vote": method})
        result = annotate(spec, texts, teachers=[teacher(0), teacher(1), teacher(2)], progress=False, cache=False)
        assert result.ledger["vote_method"] == method
        expected = decide_all(result.frame["votes"].tolist(), LABELS, False, method=method)
        assert result.frame["label"].tolist() == [d.label for d in expected]
        return result.frame["label"].tolist()

    majority, weighted = labels("majority"), labels("dawid-skene")
    assert majority != weighted  # the same votes, decided by another rule


def _labelled_file(tmp_path: Path) -> Path:
    votes, truth = one_bad_teacher(100, seed=3)
    majority = [d.label for d in decide_all(votes, LABELS, False)]
    path = tmp_path / "labelled.jsonl"
    pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": majority, "votes": votes, "gold": truth}).to_json(
        path, orient="records", lines=True
    )
    return path


def test_agree_shows_reliability_and_revotes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _labelled_file(tmp_path)
    code, out, _ = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 0
    plain = json.loads(out)
    teachers = {(r["teacher"], r["sample"]) for r in plain["reliability"]["teachers"]}
    assert teachers == {
        ("good", None),
        ("good", 0),
        ("fair", None),
        ("fair", 0),
        *(("bad", s) for s in (None, 0, 1, 2)),
    }
    code, out, _ = run_cli(["agree", str(path), "--gold", "gold", "--vote", "dawid-skene", "--json"], capsys)
    assert code == 0
    revoted = json.loads(out)
    assert revoted["accuracy"] > plain["accuracy"] + 0.2
    assert revoted["reliability"]["method"] == "dawid-skene"
    code, out, _ = run_cli(["agree", str(path), "--gold", "gold"], capsys)
    assert code == 0 and "## Teacher reliability" in out and "| bad | 1 |" in out


def test_agree_vote_without_votes_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plain.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["positive", "neutral"], "gold": ["positive", "neutral"]}).to_csv(path)
    code, _, err = run_cli(["agree", str(path), "--gold", "gold", "--vote", "dawid-skene"], capsys)
    assert code == 2 and "needs a 'votes' column" in err and len(err.strip().splitlines()) == 1


def _published_card(tmp_path: Path, spec: TaskSpec, votes: list, decisions: list, truth: list[str]) -> str:
    """The dataset card of the decided votes, with the truth as the experts' column."""
    from sxhub.publish import publish_dataset

    frame = pd.DataFrame(
        {
            "text": [f"text {i}" for i in range(len(votes))],
            "label": [d.label for d in decisions],
            "votes": votes,
            "agreement": [d.agreement for d in decisions],
            "failed": False,
            "error": "",
            "expert": truth,
        }
    )
    folder = tmp_path / "repo"
    publish_dataset(frame, spec=spec, repo_id="me/fin", to=folder, gold="expert")
    return (folder / "README.md").read_text(encoding="utf-8")


def test_dataset_card_shows_reliability_and_the_vote_rule(tmp_path: Path) -> None:
    votes, truth = one_bad_teacher(120, seed=4)
    spec = TaskSpec.from_dict({"name": "fin", "labels": LABELS, "vote": "dawid-skene"})
    decisions = decide_all(votes, LABELS, False, method="dawid-skene")
    card = _published_card(tmp_path, spec, votes, decisions, truth)
    assert "combined by Dawid-Skene" in card and "## Teacher reliability" in card
    result = teacher_reliability(votes, [d.label for d in decisions], LABELS, False, gold=truth)
    good = result["teachers"][0]
    assert f"| `good` | all | 120/120 | {good['agreement_with_vote']:.3f} | {good['gold']['accuracy']:.3f} |" in card
    assert "| `bad` | 2 |" in card and "| dawid-skene |" in card


def test_annotate_with_a_scoring_teacher_decides_by_its_scores(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A teacher that scores labels (as sxhub tune's does) draws its samples from its scores; ``vote: scores``
    labels each text with the most probable label and its probability, where ``majority`` counts the draws."""
    from dataclasses import dataclass, replace

    from sxhub.teachers.base import Reply

    @dataclass
    class ScoringTeacher(FakeTeacher):
        scores_labels: bool = True

        async def acomplete(self, messages, *, schema, temperature, seed, max_tokens) -> Reply:  # type: ignore[no-untyped-def, override]
            reply = await super().acomplete(
                messages, schema=schema, temperature=temperature, seed=seed, max_tokens=max_tokens
            )
            return replace(reply, scores={"positive": 0.6, "neutral": 0.3, "negative": 0.1})

    # every draw came out neutral, as 3 draws from (0.6, 0.3, 0.1) do 2.7% of the time
    teacher = ScoringTeacher(name="tuned", responder=lambda _messages: {"label": "neutral"})
    texts = ["Sales rose.", "Profit fell."]
    result = {}
    monkeypatch.setattr("sxhub.annotate_engine._WARNED", set())  # the warning is given once per process
    # majority over a scoring teacher's draws names --vote scores, once per process; the scores rule does not warn
    for method, warns in (("majority", True), ("scores", False), ("majority", False)):
        spec = TaskSpec.from_dict({"name": "fin", "labels": LABELS, "vote": method, "samples": 3, "temperature": 1.0})
        caplog.clear()
        with caplog.at_level("WARNING", logger="sxhub.annotate"):
            result[method] = annotate(spec, texts, teachers=[teacher], progress=False, cache=False).frame
        assert ("--vote scores" in caplog.text) == warns
    assert result["majority"]["label"].tolist() == ["neutral", "neutral"]
    assert result["scores"]["label"].tolist() == ["positive", "positive"]
    assert result["scores"]["agreement"].tolist() == pytest.approx([0.6, 0.6])  # the text's confidence
    assert result["scores"]["votes"][0][0]["scores"][0] == {"label": "positive", "p": 0.6}


def test_dataset_card_of_a_scores_vote(tmp_path: Path) -> None:
    """The card says how a scores vote decided and what its agreement means, and scores it against the experts."""
    from sxhub.vote import vote_scores

    rng = np.random.default_rng(5)
    truth = [LABELS[i] for i in rng.integers(0, 3, 60)]
    votes = []
    for gold in truth:
        probs = {name: (0.7 if name == gold else 0.15) for name in LABELS}
        drawn = [str(rng.choice(LABELS, p=[probs[n] for n in LABELS])) for _ in range(3)]
        votes.append([{**_vote("tuned", s, [drawn[s]]), "scores": vote_scores(probs, LABELS)} for s in range(3)])
    spec = TaskSpec.from_dict({"name": "fin", "labels": LABELS, "vote": "scores", "samples": 3})
    decisions = decide_all(votes, LABELS, False, method="scores")
    assert [d.label for d in decisions] == truth and [d.agreement for d in decisions] == pytest.approx([0.7] * 60)
    card = _published_card(tmp_path, spec, votes, decisions, truth)
    assert "combined by the mean of the teachers' label scores (a soft vote)" in card
    assert "`agreement` is that mean, the text's confidence" in card and "mean score of the winner" in card
    result = teacher_reliability(votes, [d.label for d in decisions], LABELS, False, gold=truth, method="scores")
    assert result["vote_vs_gold"]["scores"]["accuracy"] == 1.0
    assert result["vote_vs_gold"]["majority"]["accuracy"] < 1.0  # the draws, counted, miss some
    assert "| scores |" in card


def test_dawid_skene_without_crowd_kit_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vote comes after every teacher request: without crowd-kit, vote: dawid-skene failed only then."""
    import importlib.util

    from sxhub.annotate import annotate
    from sxhub.errors import InputError
    from sxhub.spec import TaskSpec
    from sxhub.teachers import FakeTeacher

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "crowdkit" else real(name, *a))
    teacher = FakeTeacher()
    spec = TaskSpec(name="t", labels=["a", "b"], vote="dawid-skene")
    with pytest.raises(InputError, match=r"dawid-skene needs crowd-kit; run pip install \"sxhub\[review\]\""):
        annotate(spec, ["x", "y"], teachers=[teacher], cache=False, progress=False)
    assert teacher.history == []


def test_per_label_reliability_is_one_row_per_label_at_28_labels(tmp_path: Path) -> None:
    """GoEmotions' 28 labels: the per-label tables (F1 / alpha against gold, Dawid-Skene's estimates) had one row
    per teacher and one column per label, a 470-character line that a terminal wrapped into noise and the Hub
    scrolled sideways. They have one row per label, one column per teacher, as the other per-label tables."""
    rng = np.random.default_rng(0)
    names = [f"emotion{i}" for i in range(28)]
    truth, votes = [], []
    for _ in range(200):
        gold = [str(n) for n in rng.choice(names, size=int(rng.integers(1, 3)), replace=False)]
        truth.append(gold)
        votes.append([_vote("good", s, gold if rng.random() < 0.8 else [names[0]]) for s in range(2)])
        votes[-1].append(_vote("fair", 0, gold if rng.random() < 0.6 else [names[1]]))
    decisions = decide_all(votes, names, True, method="dawid-skene")
    result = teacher_reliability(votes, [d.labels for d in decisions], names, True, gold=truth, method="dawid-skene")
    text = format_reliability(result)
    for title in ("Per label, against gold", "Dawid-Skene's estimated accuracy per label"):
        table = text.split(title)[1].split("\n\n")[1].splitlines()
        assert table[0] == "| label | good | fair |", table[0]
        assert [row.split(" | ")[0] for row in table[2:]] == [f"| {n}" for n in names]
    assert max(len(line) for line in text.splitlines()) < 120

    from sxhub.publish import publish_dataset

    spec = TaskSpec.from_dict({"name": "emotions", "labels": names, "multi_label": True})
    frame = pd.DataFrame(
        {
            "text": [f"text {i}" for i in range(len(votes))],
            "labels": [d.labels for d in decisions],
            "votes": votes,
            "agreement": [d.agreement for d in decisions],
            "failed": False,
            "error": "",
            "expert": truth,
        }
    )
    folder = publish_dataset(frame, spec=spec, to=tmp_path / "ds", repo_id="me/ds", gold="expert")
    card = (Path(folder) / "README.md").read_text(encoding="utf-8")
    table = card.split("all samples of each teacher:")[1].split("\n\n")[1].splitlines()
    assert table[0].split(" | ")[:3] == ["| label", "`good`", "`fair`"]
    assert [row.split(" | ")[0] for row in table[2:]] == [f"| `{n}`" for n in names]


def _figures_keeping_every_vote(votes, final, names, multi, gold, method):
    """teacher_reliability's rater rows and vote-vs-gold figures as computed before it stopped keeping every vote:
    all (gold, vote) pairs of each rater scored with sxhub.metrics.score, a Python float per pair and label for the
    one-vs-rest alpha, and each rule's decisions made again from the kept votes."""
    from sxhub.metrics import alpha_with_note
    from sxhub.reliability import dawid_skene, plain_votes, valid_labels
    from sxhub.vote import decide_by_scores

    def figures(pairs):
        g, p = [g for g, _ in pairs], [p for _, p in pairs]
        result = score(g, p, names, multi)
        gs, ps = [x if multi else [x] for x in g], [x if multi else [x] for x in p]
        per_label = {
            n: {**row, "alpha": alpha_with_note([[float(n in x) for x in gs], [float(n in x) for x in ps]])[0]}
            for n, row in result["per_label"].items()
        }
        keys = ("n", "accuracy", "macro_f1", "micro_f1", "krippendorff_alpha", "alpha_note")
        return {**{k: result[k] for k in keys}, "per_label": per_label}

    kept = [plain_votes(cell) for cell in votes]
    pairs: dict = {}
    for i, row in enumerate(kept):
        for vote in row:
            labels = valid_labels(vote, names, multi)
            for key in ((vote["teacher"], None), (vote["teacher"], vote["sample"])):
                pairs.setdefault(key, [])
                if labels is not None and gold[i] is not None:
                    pairs[key].append((gold[i], labels if multi else labels[0]))
    rows = {key: figures(p) if p else None for key, p in pairs.items()}
    rules = {"majority": [decide(v, names, multi) for v in kept], "dawid-skene": dawid_skene(kept, names, multi)[0]}
    if method == "scores":
        rules["scores"] = [decide_by_scores(v, names, multi) for v in kept]
    versus = {}
    for rule, decisions in rules.items():
        got = [(g, d.labels if multi else d.label) for g, d in zip(gold, decisions, strict=True) if g and not d.failed]
        versus[rule] = figures(got)
    return rows, versus


@pytest.mark.parametrize("multi, method", [(False, "majority"), (False, "scores"), (True, "dawid-skene")])
def test_reliability_read_once_equals_every_vote_kept(monkeypatch: pytest.MonkeyPatch, multi, method) -> None:
    """`publish dataset --gold` reads the votes once, in batches, and keeps per text only its majority decision,
    its valid labels and each teacher's answer (objects shared between texts), not every vote (1M rows peaked at
    4.5 GB). The figures must be those of every vote kept: texts that failed or have no votes stay aligned with
    gold, missing gold is not scored, and a label that is part of another's name ('positive' in 'not positive')
    is not counted on for it."""
    import pyarrow as pa

    from sxhub import votes_column
    from sxhub.vote import vote_scores
    from sxhub.votes_column import VoteRows

    names = ["positive", "not positive", "neutral"]
    monkeypatch.setattr(votes_column, "VOTES_BATCH", 7)  # many batches: a text's place must survive each
    rng = np.random.default_rng(3)
    votes, gold = [], []
    for i in range(60):
        truth = names[i % 3]
        expert = ([truth, names[(i + 1) % 3]] if i % 2 else [truth]) if multi else truth
        gold.append(None if i % 7 == 3 else expert)
        row = []
        if i % 11 != 5:  # every 11th text has no votes at all
            for teacher, samples in (("big", 2), ("small", 1)):
                for s in range(samples):
                    said = truth if rng.random() < 0.7 else names[int(rng.integers(0, 3))]
                    labels = None if (i % 13 == 4 or rng.random() < 0.1) else ([said, truth] if multi else [said])
                    probs = {n: (0.6 if n == said else 0.2) for n in names}
                    row.append(
                        {
                            **_vote(teacher, s, labels),
                            "scores": vote_scores(probs, names) if method == "scores" else None,
                        }
                    )
        votes.append(row)
    decisions = decide_all(votes, names, multi, method=method)
    final = [None if d.failed else (d.labels if multi else d.label) for d in decisions]
    column = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(votes)))
    result = teacher_reliability(
        VoteRows(column, fields=("teacher", "sample", "labels", "error", "scores")),
        final,
        names,
        multi,
        gold=gold,
        method=method,
    )
    rows, versus = _figures_keeping_every_vote(votes, final, names, multi, gold, method)
    assert {(r["teacher"], r["sample"]): r["gold"] for r in result["teachers"]} == rows
    assert result["vote_vs_gold"] == versus
    assert rows[("big", None)]["n"] > rows[("big", 0)]["n"] > 0  # pooled and per sample both scored
