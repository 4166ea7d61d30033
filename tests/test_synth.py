"""Synthetic Twins and generated data: prompts, checks and flags, dedup, relabelling, exports, CLI."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import CHANGED_TWIN, LEAKED_TWIN, UNLABELLED_TWIN, run_cli, sxhub_logged, twins_shaped
from fake_openai_server import Answer, Fail, FakeOpenAIServer, default_answer, schema_of, user_text

from sxhub.cache import LabelCache
from sxhub.cli import cli
from sxhub.errors import InputError
from sxhub.generate import (
    GenerateOptions,
    GenerateResult,
    chat_record,
    completion_record,
    export_rows,
    generate,
    generation_messages,
    grid,
)
from sxhub.spec import Example, TaskSpec, TeacherSpec
from sxhub.synth import (
    identity_tokens,
    leaked_identity,
    near_duplicates,
    protect_brand,
    shared_ngrams,
)
from sxhub.teachers import FakeTeacher
from sxhub.twins import TwinOptions, make_twins, twin_flags, twin_messages

SENTIMENT = TaskSpec(
    name="sentiment",
    description="Sentiment of a product tweet.",
    labels=[{"name": "positive", "description": "likes it"}, {"name": "negative", "description": "dislikes it"}],
    samples=1,
)
FOUR_P = TaskSpec(name="4p", multi_label=True, labels=["Product", "Place", "Price", "Promotion"], samples=1)


def bag_embed(texts: Sequence[str]) -> np.ndarray:
    """A transparent stand-in for MiniLM: hashed bag of lowercase words, unit length."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            out[i, int(hashlib.md5(word.strip(".,!?").encode()).hexdigest(), 16) % 64] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def is_twin_request(messages: list[dict[str, str]]) -> bool:
    return "Synthetic Twin" in messages[0]["content"]


# ------------------------------------------------------------------------------------------------------------------
# masking and identity checks
# ------------------------------------------------------------------------------------------------------------------
def test_protect_brand_masks_pii_but_keeps_the_placeholder() -> None:
    text = "Love my @Zara coat from zara.com? mail jo@x.com, call +44 20 7946 0958, ask @anna at https://t.co/x"
    out = protect_brand(text, focal_brand="Zara", placeholder="SynFcl")
    assert "@SynFcl coat" in out and "Zara" not in out and "zara" not in out
    assert "EMAIL" in out and "PHONE" in out and "@user" in out and "URL" in out
    assert "jo@x.com" not in out and "@anna" not in out and "7946" not in out
    assert protect_brand("hi @anna", focal_brand=None, placeholder=None) == "hi @user"


def test_identity_tokens_and_leaks() -> None:
    original = "Ask @anna at Harrods about order 123456, mail anna@shop.com, said Jane Smith on Oxford Street."
    tokens = identity_tokens(original, brands=["Harrods"])
    kinds = {(t.kind, t.value) for t in tokens}
    assert {("handle", "@anna"), ("email", "anna@shop.com"), ("number", "123456"), ("brand", "Harrods")} <= kinds
    assert ("name", "Smith") in kinds and ("name", "Oxford") in kinds
    clean = "Ask @lee at a corner shop about order 9, mail EMAIL, said Tom Baker on Main Road."
    assert leaked_identity(tokens, clean) == []
    dirty = "Ask @Anna at harrods about order 123456, mail anna@shop.com"
    assert set(leaked_identity(tokens, dirty)) == {
        "handle:@anna",
        "email:anna@shop.com",
        "number:123456",
        "brand:Harrods",  # brands match in any case; capitalised names only as written
    }
    assert identity_tokens("I love SynFcl and @SynFcl", keep=["SynFcl"]) == []


def test_names_that_open_a_sentence_count_with_evidence() -> None:
    """A capitalised sentence opener is a name only with evidence: a possessive or a second capitalised word."""
    names = {t.value for t in identity_tokens("Anna Smith loved it. Zara's store is new. Loving the Nike shoes.")}
    assert {"Anna", "Smith", "Zara", "Nike"} <= names
    assert "Loving" not in names
    tokens = identity_tokens("Zara's autumn line is out.")
    assert leaked_identity(tokens, "The Zara autumn line is out.") == ["name:Zara"]
    assert leaked_identity(tokens, "The brand's autumn line is out.") == []


def test_capitals_that_shout_or_recur_in_lower_case_are_not_names() -> None:
    """Every capitalised word of a tweet written in capitals was a name: a twin that kept its tone ("HUGE SALE") was
    flagged for keeping the identity "SALE" (4P tweets: 1,247 name tokens in the 196 with a run of capitals, THE, TO,
    IN, YOU... among them)."""
    original = "HUGE SALE TODAY ONLY!!! GRAB YOUR DEALS AT @MegaMart BEFORE THEY ARE GONE"
    assert [t for t in identity_tokens(original) if t.kind == "name"] == []
    flags, leaked, *_ = twin_flags(
        original,
        original,
        "MASSIVE SALE TODAY ONLY! GRAB A BARGAIN AT @ShopCo",
        similarity=0.9,
        original_labels=["Price"],
        twin_labels=["Price"],
        opts=TwinOptions(max_shared_ngrams=9),
    )
    assert leaked == [] and flags == []
    # capitals beside words in lower case, a word the text writes in lower case too, and I’m with a curly apostrophe
    names = {t.value for t in identity_tokens("So glad I’m back, met the IBM team of Jane Doe, Summer Sale is a sale")}
    assert names == {"IBM", "Jane", "Doe", "Summer"}
    # a hashtag is no evidence that a name is a plain word; a name in capitals alone in a text still counts
    assert {t.value for t in identity_tokens("A week in Vail, Colorado! #vail #colorado")} >= {"Vail", "Colorado"}
    assert leaked_identity(identity_tokens("Lunch at NOBU with friends"), "Lunch at NOBU with pals") == ["name:NOBU"]


def test_the_words_of_calls_to_action_and_headlines_are_not_names() -> None:
    """On the 4P tweets Let, Here, There, Check, Get, Today, Top, CEO and COVID-19 were among the most frequent names
    (every "Let's" a possessive opening a sentence): a twin that kept "Let's" or "CEO" was flagged as keeping an
    identity. The people, places and brands beside such words are still names, and so is a word that is also a
    given name (Will, Grace)."""
    original = (
        "Great news! @VH1 #SaturdayMusicMarathon Let's make waves. Here's a nugget from CEO Anna Berg in Miami: "
        "Check out the Top 5 deals of COVID-19 Week at Harrods. Read More: URL Will and Grace loved it"
    )
    names = {t.value for t in identity_tokens(original) if t.kind == "name"}
    assert names == {"Anna", "Berg", "Miami", "Harrods", "Will", "Grace"}
    twin = "Big news! Let's make waves. Here's a gem from CEO Lee Park in Oslo: Check out the Top 5 deals this week."
    assert leaked_identity(identity_tokens(original), twin) == []


def test_shared_ngrams_counts_copied_runs() -> None:
    assert shared_ngrams("the cat sat on the mat today", "a cat sat on the mat today") == 2
    assert shared_ngrams("the cat sat on the mat", "the dog lay on a rug") == 0


def test_twin_flags_name_every_failed_check() -> None:
    opts = TwinOptions(focal_brand="Zara", min_similarity=0.6)
    flags, leaked, shared, kept = twin_flags(
        "My @Zara coat from Zara arrived, thanks @anna",
        "My @SynFcl coat from SynFcl arrived, thanks @user",
        "My Zara coat from SynFcl arrived, thanks @anna",
        similarity=0.4,
        original_labels="positive",
        twin_labels="negative",
        opts=opts,
    )
    text = " | ".join(flags)
    assert "meaning lost (similarity 0.40 < 0.6)" in text
    assert "identity kept" in text and "handle:@anna" in leaked and "brand:Zara" in leaked
    assert "label changed (positive -> negative)" in text
    assert shared >= 1 and "wording copied" in text and kept is False
    ok_flags, *_ = twin_flags(
        "Thanks @anna",
        "Thanks @user",
        "Cheers to @bo",
        similarity=0.9,
        original_labels=["Price"],
        twin_labels=["Price"],
        opts=TwinOptions(),
    )
    assert ok_flags == []


def test_names_and_words_of_any_script_are_checked() -> None:
    """Words were [A-Za-z]...: a name opening with another letter (Émile, Łukasz, Škoda, Özil) was never a name, and a
    Greek or Cyrillic text had no words at all, so its twin could keep every name and copy it word for word, ok."""
    names = {t.value for t in identity_tokens("Dinner with Émile and Łukasz at the Škoda garage, Özil came too")}
    assert {"Émile", "Łukasz", "Škoda", "Özil"} <= names
    greek = "Ήταν υπέροχη μέρα στο κατάστημα με τον Γιάννη και τη Μαρία"
    flags, leaked, shared, _ = twin_flags(
        greek, greek, greek + " σήμερα", similarity=0.9, original_labels="positive", twin_labels="positive",
        opts=TwinOptions(),
    )  # fmt: skip
    assert {"name:Γιάννη", "name:Μαρία"} <= set(leaked) and shared >= 1
    assert any(f.startswith("wording copied") for f in flags)
    russian = "Я очень люблю этот новый магазин, здесь всегда отличный сервис"
    assert shared_ngrams(russian, "Честно говоря, " + russian.lower()) >= 1


@pytest.mark.parametrize("brand", ["Zara", "@Zara"])
def test_a_focal_brand_given_as_its_handle_is_checked_wherever_it_is_named(brand: str) -> None:
    """--focal-brand @Zara (the brand's handle) masked "Zara" to SynFcl, but the leak check looked for "@zara" only:
    a twin that kept the brand's name passed with ok=True."""
    opts = TwinOptions(focal_brand=brand)
    raw = "loved the coats at zara today"
    masked = protect_brand(raw, focal_brand=brand, placeholder=opts.placeholder)
    assert masked == "loved the coats at SynFcl today"
    flags, leaked, *_ = twin_flags(
        raw, masked, "adored the Zara jackets this morning", similarity=0.9, original_labels="positive",
        twin_labels="positive", opts=opts,
    )  # fmt: skip
    assert leaked == ["brand:Zara"] and flags == ["identity kept: brand:Zara"]


def test_twin_prompt_has_labels_placeholder_and_masked_text_only() -> None:
    opts = TwinOptions(focal_brand="Zara")
    masked = protect_brand("@Zara jacket, mail me jo@x.com", focal_brand="Zara", placeholder=opts.placeholder)
    messages = twin_messages(FOUR_P, masked, ["Product"], opts)
    assert messages[0]["role"] == "system" and "SynFcl is a placeholder" in messages[0]["content"]
    assert "- Promotion" in messages[0]["content"] and '{"twin"' in messages[0]["content"]
    assert "Its labels: Product." in messages[1]["content"] and "jo@x.com" not in messages[1]["content"]
    assert "none of the labels" in twin_messages(FOUR_P, "x", [], opts)[1]["content"]


def test_twin_options_check_themselves() -> None:
    with pytest.raises(InputError, match="min_similarity"):
        TwinOptions(min_similarity=1.5)
    with pytest.raises(InputError, match="placeholder"):
        TwinOptions(placeholder="Syn Fcl")
    assert TwinOptions(focal_brand="Zara").placeholder == "SynFcl"


@pytest.mark.parametrize(
    ("build", "said"),
    [
        (lambda: TwinOptions(min_similarity=1.5), "min_similarity=1.5 must be a number from -1.0 to 1.0 (option --min-similarity)."),
        (lambda: TwinOptions(temperature=3), "temperature=3 must be a number from 0.0 to 2.0 (option --temperature)."),
        (lambda: TwinOptions(max_shared_ngrams=-1), "max_shared_ngrams=-1 must be an integer >= 0 (option --max-shared-ngrams)."),
        (lambda: GenerateOptions(n=3, min_distance=5), "min_distance=5 must be a number from 0.0 to 2.0 (option --min-distance)."),
        (lambda: GenerateOptions(n=3, min_agreement=2), "min_agreement=2 must be a number from 0.0 to 1.0 (option --min-agreement)."),
        (lambda: GenerateOptions(n=3, max_rounds=0), "max_rounds=0 must be a positive integer (option --max-rounds)."),
    ],
)  # fmt: skip
def test_a_threshold_of_twins_or_generate_names_the_option_and_the_parameter(build: Any, said: str) -> None:
    """TwinOptions(min_similarity=1.5) said "min_similarity=1.5 must be a number from -1.0 to 1.0", the parameter
    only, while GenerateOptions(n=0), RunConfig and TrainConfig name the CLI flag too ("(option --n)")."""
    with pytest.raises(InputError) as caught:
        build()
    assert str(caught.value) == said


# ------------------------------------------------------------------------------------------------------------------
# twins end to end with the fake teacher
# ------------------------------------------------------------------------------------------------------------------
REWRITES = {
    "great": "Really happy with the wool scarf I picked up at SynFcl in Leeds, so cosy",
    "handle": "Thanks @anna for the tip, write to anna@shop.com about the boots",
    "brand": "Zara boots are awful, the sole came off after a week",
}


def twin_responder(messages: list[dict[str, str]]) -> Any:
    user = messages[-1]["content"]
    if is_twin_request(messages):
        if "coat" in user:
            return {"twin": REWRITES["great"]}
        if "tip" in user:
            return {"twin": REWRITES["handle"]}
        if "shoes" in user:
            return {"twin": REWRITES["brand"]}
        return "I cannot rewrite that"  # never valid JSON: the twin fails
    return {"label": "negative" if ("awful" in user or "fell apart" in user) else "positive"}


def test_twins_checks_flags_and_failures(tmp_path: Path) -> None:
    teacher = FakeTeacher(responder=twin_responder)
    texts = [
        "Love my new coat from @Zara on Oxford Street, so warm",
        "Thanks @anna for the tip, mail anna@shop.com if you need the boots",
        "Zara shoes, love them so much",
        "just bad",
    ]
    cache = LabelCache(tmp_path / "cache")
    result = make_twins(
        SENTIMENT,
        pd.DataFrame({"idx": [1, 2, 3, 4], "text": texts}),
        teachers=[teacher],
        options=TwinOptions(focal_brand="Zara"),
        embed=bag_embed,
        cache=cache,
        progress=False,
        backoff=0.01,
    )
    frame = result.frame.set_index("idx")
    assert list(frame.columns[:3]) == ["original", "text", "label"]
    assert frame.loc[1, "original"] == "Love my new coat from @SynFcl on Oxford Street, so warm"
    good = frame.loc[1]
    assert good["text"] == REWRITES["great"] and good["label"] == "positive" and good["original_label"] == "positive"
    assert good["label_kept"] and good["leaked"] == [] and good["shared_ngrams"] == 0 and not good["failed"]
    assert 0 <= good["similarity"] <= 1
    assert good["ok"] == (good["similarity"] >= 0.6)
    handle = frame.loc[2]
    assert not handle["ok"] and {"handle:@anna", "email:anna@shop.com"} <= set(handle["leaked"])
    assert any(f.startswith("identity kept") for f in handle["flags"])
    brand = frame.loc[3]
    assert not brand["ok"] and "brand:Zara" in brand["leaked"]
    assert any("label changed (positive -> negative)" in f for f in brand["flags"])
    failed = frame.loc[4]
    assert failed["failed"] and failed["text"] == "" and failed["label"] is None and not failed["ok"]
    assert "invalid rewrite" in failed["error"] and failed["flags"][0].startswith("no twin")
    # PII never reached the teacher
    twin_calls = [c for c in teacher.history if is_twin_request(c.messages)]
    sent = " ".join(m["content"] for call in teacher.history[: len(texts)] + twin_calls for m in call.messages)
    assert "anna@shop.com" not in sent and "@anna" not in sent and "@Zara" not in sent
    assert len(twin_calls) == 3 + 3  # 3 good replies, the 4th text asked 3 times (max_invalid=2)
    assert len({c.seed for c in twin_calls if "just bad" in c.messages[-1]["content"]}) == 3
    summary = result.summary()
    assert summary["n"] == 4 and summary["failed"] == 1 and summary["ledger"]["requests"] == len(teacher.history)
    # a rerun is served by the cache
    again = FakeTeacher(responder=twin_responder)
    rerun = make_twins(
        SENTIMENT,
        pd.DataFrame({"idx": [1, 2, 3, 4], "text": texts}),
        teachers=[again],
        options=TwinOptions(focal_brand="Zara"),
        embed=bag_embed,
        cache=cache,
        progress=False,
    )
    cache.close()
    assert again.history == [] and rerun.ledger["requests"] == 0 and rerun.ledger["cached"] > 0
    assert rerun.frame["text"].tolist() == result.frame["text"].tolist()


def test_twins_with_another_seed_sends_no_request_of_seed_0() -> None:
    """Row i was rewritten with seed ``--seed + i``: ``--seed 1`` sent row i's rewrite with the seed ``--seed 0`` had
    sent row i + 1's, the same request where the rows hold the same text (and so read its answer from the cache).
    Another seed moves them by generate's and annotate's hash (seed_shift); ``--seed 0`` sends what it did."""

    def rewrites(seed: int) -> list[tuple[str, int]]:
        teacher = FakeTeacher(responder=twin_responder)
        texts = ["Love my new coat, so warm"] * 3
        make_twins(
            SENTIMENT,
            texts,
            teachers=[teacher],
            options=TwinOptions(seed=seed),
            embed=bag_embed,
            cache=False,
            progress=False,
        )
        return [(c.messages[-1]["content"], c.seed) for c in teacher.history if is_twin_request(c.messages)]

    first, second = rewrites(0), rewrites(1)
    assert sorted(seed for _, seed in first) == [0, 1, 2]
    assert len(second) == 3 and not set(first) & set(second) and all(0 <= seed < 2**31 for _, seed in second)


def test_twins_refuses_input_columns_it_would_overwrite_before_asking_a_teacher() -> None:
    """An expert ``label`` column (PhraseBank's ``sentence,label``) was replaced by the twins' teacher labels, and a
    ``text`` column beside ``--text-column body`` by the twins, without a word; annotate refuses the same."""
    teacher = FakeTeacher(responder=twin_responder)
    for frame, clash in (
        (pd.DataFrame({"sentence": ["Profit rose"], "label": ["positive"]}), "['label']"),
        (pd.DataFrame({"body": ["Profit rose"], "text": ["keep me"], "votes": [1]}), "['text', 'votes']"),
    ):
        with pytest.raises(InputError, match=re.escape(f"input column(s) {clash} would be overwritten")):
            make_twins(SENTIMENT, frame, teachers=[teacher], embed=bag_embed, progress=False, cache=False,
                       text_column="body" if "body" in frame else None)  # fmt: skip
    assert teacher.history == []


def test_twins_refuses_a_too_long_text_by_its_input_row_and_counts_rows_without_a_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text over 20,000 characters was refused by the vote with annotate's words: the row counted after the empty
    texts were left out (row 1 for the input's row 2) and "raise the limit with --max-chars", which twins has not.
    Rows without a text were left out of the output with a log line only: the summary said "twinned 2 texts" for 3
    input rows. ``--limit -1`` was "could not be read as csv ... check that quotes are closed"."""
    from sxhub.cli import main

    teacher = FakeTeacher(responder=twin_responder)
    frame = pd.DataFrame({"text": ["", "Love my coat", "x " * 10_001], "id": [1, 2, 3]})
    with pytest.raises(InputError) as info:
        make_twins(SENTIMENT, frame, teachers=[teacher], embed=bag_embed, progress=False, cache=False)
    assert str(info.value).startswith("row 2 of column 'text' has 20,002 characters (limit 20,000)")
    assert "--max-chars" not in str(info.value) and teacher.history == []
    result = make_twins(SENTIMENT, frame.iloc[:2], teachers=[teacher], embed=bag_embed, progress=False, cache=False)
    assert len(result.frame) == 1 and result.summary()["n_empty"] == 1
    assert "twinned 1 texts (1 row without a text left out)" in result.summary_line()
    task = write_task(tmp_path, "http://127.0.0.1:9/v1")
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["-q", "twins", str(task), str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), "--limit", "-1"])
    assert exit_info.value.code == 2 and "--limit" in capsys.readouterr().err


def test_twins_meaning_check_uses_threshold() -> None:
    teacher = FakeTeacher(
        responder=lambda m: (
            {"twin": "Completely unrelated words here"} if is_twin_request(m) else {"label": "positive"}
        )
    )
    result = make_twins(
        SENTIMENT,
        ["I adore this lamp"],
        teachers=[teacher],
        embed=bag_embed,
        progress=False,
        cache=False,
        options=TwinOptions(min_similarity=0.5),
    )
    row = result.frame.iloc[0]
    assert row["similarity"] < 0.5 and not row["ok"] and row["flags"][0].startswith("meaning lost")
    assert not row["failed"] and row["label"] == "positive"


def test_a_twin_that_copies_its_original_is_flagged() -> None:
    """A teacher that hands the text back unchanged passed every check for texts under five words (no shared 5-gram,
    no name, similarity 1.0): ``ok`` True for a copy of the real text. A copy (same words, any case or spacing) is now
    flagged; a rewrite of a short text is not."""
    copies = {"Sales fell.": "sales  FELL", "Profit rose sharply.": "Earnings went up fast."}
    teacher = FakeTeacher(
        responder=lambda m: (
            {"twin": next(v for k, v in copies.items() if k in m[-1]["content"])}
            if is_twin_request(m)
            else {"label": "positive"}
        )
    )
    result = make_twins(SENTIMENT, list(copies), teachers=[teacher], embed=bag_embed, progress=False, cache=False,
                        options=TwinOptions(min_similarity=-1.0))  # fmt: skip
    copied, rewritten = result.frame.iloc[0], result.frame.iloc[1]
    assert not copied["ok"] and copied["flags"] == ["copy of the original"] and not copied["failed"]
    assert rewritten["ok"] and rewritten["flags"] == []
    assert result.summary()["flag_counts"] == {"copy of the original": 1}


def test_an_emoji_only_twin_is_a_copy_only_when_it_is_the_same() -> None:
    """The copy check compared words only: every emoji-only twin (no word) had the empty key of its emoji-only
    original, so "👌" for "👍" was flagged "copy of the original"; "👍" for "👍" still is."""
    opts = TwinOptions()
    for twin, copied in (("👌", False), ("🔥 🔥", False), (" 👍 ", True)):
        flags, *_ = twin_flags(
            "👍", "👍", twin, similarity=0.9, original_labels="positive", twin_labels="positive", opts=opts
        )
        assert ("copy of the original" in flags) is copied, twin


def test_twins_with_real_minilm_similarity() -> None:
    teacher = FakeTeacher(
        responder=lambda m: (
            {"twin": "Profits at the firm climbed sharply this quarter."}
            if is_twin_request(m)
            else {"label": "positive"}
        )
    )
    result = make_twins(
        SENTIMENT,
        ["The company's profit rose strongly in the quarter."],
        teachers=[teacher],
        progress=False,
        cache=False,
    )
    assert result.frame.iloc[0]["similarity"] > 0.6 and bool(result.frame.iloc[0]["ok"])


# ------------------------------------------------------------------------------------------------------------------
# generate
# ------------------------------------------------------------------------------------------------------------------
def test_grid_and_generation_prompt() -> None:
    assert grid(SENTIMENT, []) == [(None, "positive"), (None, "negative")]
    assert sorted(grid(SENTIMENT, ["shoes", "tvs"]), key=str) == sorted(
        itertools.product(["shoes", "tvs"], ["positive", "negative"]), key=str
    )
    messages = generation_messages(
        SENTIMENT, "negative", topic="shoes", examples=[Example("Meh shoes", ["negative"])], style="short tweets"
    )
    user = messages[1]["content"]
    assert "label 'negative'" in user and "dislikes it" in user and "Topic: shoes." in user
    assert "Style: short tweets." in user and "- Meh shoes" in user and '{"text"' in messages[0]["content"]


def test_generation_prompt_names_the_language_of_the_task() -> None:
    """A task of ``language: de`` was written in English: the prompt never named the language, and the dataset card
    declared German texts. It names it now; an English task's prompt (the default) is as before, its cache kept."""
    german = TaskSpec.from_dict({**SENTIMENT.to_dict(), "language": "de"})
    user = generation_messages(german, "negative", topic=None, examples=[], style="")[1]["content"]
    assert "Write the text in the language of code 'de' (ISO 639, BCP 47)." in user
    english = generation_messages(SENTIMENT, "negative", topic=None, examples=[], style="")
    assert "language" not in json.dumps(english).lower()


@pytest.mark.parametrize(("n_topics", "n_labels"), [(10, 3), (4, 6), (3, 28), (6, 4)])
def test_grid_spreads_any_first_cells_over_topics_and_labels(n_topics: int, n_labels: int) -> None:
    """The cells were topics outer: --n 9 over 3 labels and a topics file of 10 wrote about the first 3 topics only."""
    spec = TaskSpec(name="t", labels=[f"l{i}" for i in range(n_labels)])
    cells = grid(spec, [f"t{i}" for i in range(n_topics)])
    assert len(set(cells)) == len(cells) == n_topics * n_labels
    for n in range(1, 2 * len(cells) + 1):
        first = [cells[k % len(cells)] for k in range(n)]
        for counts, kinds in ((Counter(t for t, _ in first), n_topics), (Counter(lab for _, lab in first), n_labels)):
            assert max(counts.values()) - (min(counts.values()) if len(counts) == kinds else 0) <= 1, (n, counts)


def test_generate_writes_about_every_topic_when_n_is_below_the_grid() -> None:
    teacher = FakeTeacher(
        responder=lambda messages: (
            {"text": f"text {next(seeds)} {messages[-1]['content'][-60:]}"}
            if "Write one new text" in messages[-1]["content"]
            else {"label": "positive"}
        )
    )
    seeds = itertools.count()
    topics = [f"sector{i}" for i in range(10)]
    three = TaskSpec(name="fin", labels=["positive", "neutral", "negative"], samples=1)
    options = GenerateOptions(n=9, topics=topics, min_distance=0.0)
    result = generate(three, options, teachers=[teacher], embed=bag_embed, progress=False, cache=False)
    frame = result.frame
    assert len(frame) == 9 and frame["topic"].nunique() == 9  # was 3: sector0..sector2, each with all 3 labels
    assert Counter(frame["prompted_label"]) == {"positive": 3, "neutral": 3, "negative": 3}


def test_near_duplicates_exact_and_embedding() -> None:
    texts = ["Great shoes!", "great   shoes", "Terrible service at the store", "terrible service at the store today"]
    reasons = near_duplicates(texts, bag_embed, max_similarity=0.85)
    assert reasons[0] == "" and reasons[1] == "exact duplicate" and reasons[2] == ""
    assert reasons[3].startswith("near duplicate")
    assert near_duplicates(["Great shoes"], None, max_similarity=0.9, against=["great shoes"]) == ["exact duplicate"]


def generate_by(teacher: FakeTeacher, options: GenerateOptions) -> GenerateResult:
    """``generate`` of SENTIMENT with one scripted teacher that writes and labels, texts compared by bag_embed,
    without a progress bar or the label cache."""
    return generate(SENTIMENT, options, teachers=[teacher], embed=bag_embed, progress=False, cache=False)


def test_generate_dedups_and_labels_by_vote() -> None:
    counter = itertools.count()
    written: list[str] = []

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        if "Write one new text" in user:
            k = next(counter)
            if k == 1:
                return "not json at all"
            text = (
                "Same text again" if k in (2, 3) else f"Text number {k} about {'shoes' if 'shoes' in user else 'tvs'}"
            )
            written.append(text)
            return {"text": text}
        if "number 4 " in user:
            return "broken label"  # every vote fails: no label, never a guessed one
        return {"label": "negative"}

    teacher = FakeTeacher(responder=responder)
    result = generate_by(teacher, GenerateOptions(n=6, topics=["shoes", "tvs"], seed=7))
    frame = result.frame
    assert len(frame) == 6 and frame["text"].is_unique
    assert result.dropped["invalid"] == 1 and result.dropped["duplicate"] == 1
    assert set(frame["prompted_label"]) == {"positive", "negative"} and set(frame["topic"]) == {"shoes", "tvs"}
    labelled = frame[~frame["failed"]]
    assert set(labelled["label"]) == {"negative"}  # the vote, not the label asked for
    broken = frame[frame["text"].str.contains("number 4 ")].iloc[0]
    assert broken["failed"] and broken["label"] is None and "invalid answer" in broken["error"]
    gen_calls = [c for c in teacher.history if "Write one new text" in c.messages[-1]["content"]]
    assert len({c.seed for c in gen_calls}) == len(gen_calls) and all(c.temperature == 1.0 for c in gen_calls)
    expected = (labelled["prompted_label"] == "negative").mean()
    assert 0 < expected < 1 and result.summary()["label_matches_prompt"] == pytest.approx(expected, abs=1e-4)


def test_generate_drops_texts_that_copy_their_prompt() -> None:
    """A weak writer that hands back a seed example ("for tone and length only (do not copy them)") or echoes the
    instruction had its reply kept as a new text: a real example came out as synthetic data, an instruction as a
    text labelled by vote. Both are dropped now (``copied_prompt``), and the rounds write others in their place."""
    counter = itertools.count()
    examples = [Example("Operating profit rose from EUR 7m to 9m.", ["positive"])]

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        if "Write one new text" in user:
            k = next(counter)
            if k == 0:
                return {"text": "operating profit rose from EUR 7m to 9m"}  # the example, in other case and stops
            if k == 1:
                return {"text": user.splitlines()[0]}  # the instruction itself
            return {"text": f"Fresh text {k} about {'shoes' if k % 2 else 'tvs'}"}
        return {"label": "positive"}

    result = generate_by(FakeTeacher(responder=responder), GenerateOptions(n=4, seed_examples=examples, seed=1))
    assert result.dropped["copied_prompt"] == 2 and len(result.frame) == 4
    assert all(t.startswith("Fresh text") for t in result.frame["text"])


def test_generate_drops_a_reply_that_echoes_its_instruction_or_names_its_label_first() -> None:
    """A reply that echoed the instruction and then added a text of its own, or that opened with a label name and a
    colon or dash ("Positive: ..."), was kept: the copy check dropped only a reply whose words all stood in its
    prompt. Both are dropped now (``copied_prompt``); a text that merely begins with a label's word is kept."""
    counter = itertools.count()
    kept_anyway = "Positive earnings surprise at the bank lifted its shares"
    replies = [
        "{instruction} Profits rose at the plant in Oulu.",
        "Positive: shares jumped after the results",
        "**NEGATIVE** - sales slumped in the north",
        kept_anyway,
        "Positive-sum deals keep the suppliers loyal",
        "positive:) loving the new phone case",
    ]

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        if "Write one new text" in user:
            k = next(counter)
            if k < len(replies):
                return {"text": replies[k].format(instruction=user.splitlines()[0])}
            return {"text": f"Fresh text {k} about {'shoes' if k % 2 else 'tvs'}"}
        return {"label": "positive"}

    result = generate_by(FakeTeacher(responder=responder), GenerateOptions(n=6))
    texts = list(result.frame["text"])
    assert result.dropped["copied_prompt"] == 3 and len(texts) == 6
    assert {kept_anyway, replies[4], replies[5]} <= set(texts)
    assert not any("Oulu" in t or ": " in t or " - " in t for t in texts)


def test_generate_drops_reworded_seed_examples() -> None:
    """A reply that rewords a seed example (a word added, none in its own prompt word for word) was kept as a new
    text: real data came out as synthetic, and a student's test texts could reappear in its training set. The seed
    examples are now among the texts every written one is compared with, and a near copy is a duplicate."""
    counter = itertools.count()
    examples = [Example("Operating profit rose from EUR 7m to 9m.", ["positive"])]

    def responder(messages: list[dict[str, str]]) -> Any:
        if "Write one new text" in messages[-1]["content"]:
            k = next(counter)
            if k == 0:
                return {"text": "Operating profit rose from EUR 7m to 9m this year."}
            return {"text": ["Fresh shoes sell well", "Quiet tvs glow", "New kettles boil", "Odd lamps hum"][k % 4]}
        return {"label": "positive"}

    result = generate_by(FakeTeacher(responder=responder), GenerateOptions(n=4, seed_examples=examples, seed=1))
    assert result.dropped["duplicate"] == 1 and result.dropped["copied_prompt"] == 0 and len(result.frame) == 4
    assert not any("profit" in t for t in result.frame["text"])


def test_generate_drops_a_text_too_long_to_label_and_writes_another() -> None:
    """A writer that ran on (a reply over the 20,000 characters a text may have) had its text kept: the vote then
    refused the whole batch ("row 0 ... raise the limit with --max-chars", an option generate does not have) after
    every text was written. Such a text is dropped as ``too_long`` and the rounds write another in its place."""
    from sxhub.data import MAX_CHARS

    counter = itertools.count()

    def responder(messages: list[dict[str, str]]) -> Any:
        if "Write one new text" in messages[-1]["content"]:
            k = next(counter)
            return {"text": "on and on " * (MAX_CHARS // 5) if k == 1 else f"Fresh text {k} about lamps"}
        return {"label": "positive"}

    result = generate_by(FakeTeacher(responder=responder), GenerateOptions(n=3, seed=1))
    assert result.dropped["too_long"] == 1 and len(result.frame) == 3 and not result.frame["failed"].any()
    assert result.frame["text"].str.len().max() <= MAX_CHARS


def test_generate_drops_a_text_cut_off_at_the_writers_token_budget_and_writes_another() -> None:
    """A reply the server stopped at max_tokens (finish_reason "length") mid-string is no text: it was counted with
    the unreadable replies as ``invalid``, and the tuned writer's cut texts (the JSON closed by sxhub) were kept
    mid-sentence. It is dropped as ``cut_off`` and the round writes another; a long text that closed is kept."""
    counter = itertools.count()
    long_closed = "A long review that goes on " + "and on " * 100 + "and ends."

    def responder(messages: list[dict[str, str]]) -> Any:
        if "Write one new text" in messages[-1]["content"]:
            k = next(counter)
            if k == 1:
                return '{"text": "The battery lasted two days and then the screen'  # cut at max_tokens
            return {"text": long_closed if k == 2 else f"Fresh text {k} about lamps"}
        return {"label": "positive"}

    result = generate_by(FakeTeacher(responder=responder), GenerateOptions(n=3, seed=1))
    assert result.dropped["cut_off"] == 1 and result.dropped["invalid"] == 0
    assert len(result.frame) == 3 and not result.frame["failed"].any()
    assert long_closed in set(result.frame["text"]) and not result.frame["text"].str.contains("the screen").any()


def test_generate_tops_up_the_cells_of_the_dropped_texts() -> None:
    """A top-up round asked the grid's next cells after the kept ones, not those of the dropped texts: a writer that
    repeated itself for one label (and topic) left that label short while the next round asked others, so the
    prompted labels and topics of a plain run skewed (here 4 positive texts about shoes to 2 negative). The top-up
    now asks the cells of the texts that were dropped."""
    counter = itertools.count()

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        if "Write one new text" in user:
            k = next(counter)
            if k < 8 and "'negative'" in user:  # the first round's negative texts are all the same
                return {"text": "The same bad text"}
            return {"text": f"Fresh text {k} about {'shoes' if 'shoes' in user else 'tvs'}"}
        return {"label": "positive"}

    teacher = FakeTeacher(responder=responder)
    result = generate_by(teacher, GenerateOptions(n=8, topics=["shoes", "tvs"], seed=1))
    frame = result.frame
    assert len(frame) == 8 and result.dropped["duplicate"] == 3
    asked = Counter(zip(frame["prompted_label"], frame["topic"], strict=True))
    assert asked == {(label, topic): 2 for label in ("positive", "negative") for topic in ("shoes", "tvs")}, asked


def test_generate_keeps_a_text_of_emoji_only_and_drops_only_its_repeat() -> None:
    """A text without a word ("😍😍😍", a tweet) had the empty dedup key and was dropped, counted as a duplicate, the
    first time it was written (as a twin of emoji was a "copy" of its emoji original); it is a text, and only its
    repeat is a duplicate."""
    counter = itertools.count()
    replies = ["😍😍😍", "😍😍😍", "👎👎"]

    def responder(messages: list[dict[str, str]]) -> Any:
        if "Write one new text" in messages[-1]["content"]:
            return {"text": replies[next(counter) % len(replies)]}
        return {"label": "positive"}

    result = generate_by(FakeTeacher(responder=responder), GenerateOptions(n=3, seed=1, max_rounds=1))
    assert list(result.frame["text"]) == ["😍😍😍", "👎👎"] and not result.frame["failed"].any()
    assert result.dropped["duplicate"] == 1


def test_generate_with_another_seed_asks_for_other_texts() -> None:
    """Request k was sent with seed ``--seed + k``: ``--seed 2`` sent request k (a positive text, no topic) with the
    seed ``--seed 0`` had sent request k + 2 (a positive text too), so a run with another seed, meant to write more
    texts, wrote (or took from the cache) mostly the same ones: 4 of 6 here. Another seed now asks with other
    seeds; ``--seed 0`` sends what it did before (the caches of earlier runs answer it)."""

    def calls(seed: int) -> list[tuple[str, int]]:
        teacher = FakeTeacher(
            responder=lambda m: (
                {"text": f"text {len(teacher.history)}"} if "Write one" in m[-1]["content"] else {"label": "positive"}
            )
        )
        options = GenerateOptions(n=6, seed=seed, min_distance=0.0)
        generate(SENTIMENT, options, teachers=[teacher], embed=bag_embed, progress=False, cache=False)
        return [
            (c.messages[-1]["content"], c.seed) for c in teacher.history if "Write one" in c.messages[-1]["content"]
        ]

    first, second = calls(0), calls(2)
    assert [seed for _, seed in first] == list(range(6))
    assert not set(first) & set(second) and all(0 <= seed < 2**31 for _, seed in second)


def priced(responder: Any, price: float) -> FakeTeacher:
    teacher = FakeTeacher(responder=responder)
    teacher.spec = TeacherSpec(model="org/model", price_input=price, price_output=price)
    return teacher


def check_rerun_ledger(first: dict[str, Any], second: dict[str, Any], price: float) -> None:
    """A rerun served by the cache bills nothing new and keeps what its answers first cost, per teacher too."""
    tokens = first["input_tokens"] + first["output_tokens"]
    assert first["cost_usd"] == pytest.approx(tokens * price / 1e6, rel=1e-9) and first["cost_usd"] > 0
    assert first["teachers"]["fake"]["cost_usd"] == pytest.approx(first["cost_usd"], rel=1e-9)
    assert second["requests"] == 0 and second["cached"] == first["requests"] and second["cost_usd"] == 0.0
    assert second["cached_input_tokens"] == first["input_tokens"]
    assert second["cached_output_tokens"] == first["output_tokens"]
    assert second["cached_cost_usd"] == pytest.approx(first["cost_usd"], rel=1e-9)
    assert second["teachers"]["fake"]["cached_cost_usd"] == pytest.approx(first["cost_usd"], rel=1e-9)


@pytest.mark.parametrize("price", [1.0, 1e-3], ids=["cents", "below-a-millionth"])
def test_generate_rerun_from_the_cache_keeps_the_first_cost(tmp_path: Path, price: float) -> None:
    """generate merged its engine runs' ledgers with a second summing function that kept cost_usd only, rounded to
    6 decimals: a rerun from the cache showed $0 and no first cost, and a tiny bill became 0."""

    counter = itertools.count()  # distinct texts; the rerun asks nothing

    def responder(messages: list[dict[str, str]]) -> Any:
        return (
            {"text": f"Text {next(counter)}"}
            if "Write one new text" in messages[-1]["content"]
            else {"label": "negative"}
        )

    results = []
    for _ in range(2):
        with LabelCache(tmp_path / "cache") as cache:
            results.append(
                generate(
                    SENTIMENT,
                    GenerateOptions(n=4, topics=["shoes"], seed=7),
                    teachers=[priced(responder, price)],
                    embed=bag_embed,
                    progress=False,
                    cache=cache,
                )
            )
    check_rerun_ledger(results[0].ledger, results[1].ledger, price)
    assert "cached answers first cost" in results[1].summary_line()


@pytest.mark.parametrize("price", [1.0, 1e-3], ids=["cents", "below-a-millionth"])
def test_twins_rerun_from_the_cache_keeps_the_first_cost(tmp_path: Path, price: float) -> None:
    frame = pd.DataFrame({"text": ["Love my new coat, so warm", "Thanks for the tip about the boots"]})
    results = []
    for _ in range(2):
        with LabelCache(tmp_path / "cache") as cache:
            results.append(
                make_twins(
                    SENTIMENT,
                    frame,
                    teachers=[priced(twin_responder, price)],
                    embed=bag_embed,
                    cache=cache,
                    progress=False,
                )
            )
    check_rerun_ledger(results[0].ledger, results[1].ledger, price)
    assert "cached answers first cost" in results[1].summary_line()


def test_bad_samples_fail_before_any_text_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """samples=0 was refused only by the vote, after every text had been written (and paid for)."""
    from sxhub.cli import main
    from sxhub.errors import UserError

    teacher = FakeTeacher(
        responder=lambda m: {"text": "a text"} if "Write one" in m[-1]["content"] else {"label": "positive"}
    )
    for bad in (0, -1):
        with pytest.raises(UserError, match=rf"samples={bad} must be a positive integer"):
            generate(SENTIMENT, GenerateOptions(n=4), teachers=[teacher], samples=bad, embed=bag_embed,
                     progress=False, cache=False)  # fmt: skip
    assert teacher.history == []
    task = write_task(tmp_path, "http://127.0.0.1:9/v1")
    with pytest.raises(SystemExit) as info:
        main(["-q", "generate", str(task), "-o", str(tmp_path / "out.csv"), "--n", "2", "--samples", "0"])
    assert info.value.code == 2 and "--samples" in capsys.readouterr().err


def test_exports_chat_and_completion(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "text": ["Nice shoes", "Bad", "Lost"],
            "labels": [["Product"], ["Product", "Price"], None],
            "prompted_label": ["Product", "Price", "Place"],
            "failed": [False, False, True],
        }
    )
    chat = export_rows(FOUR_P, frame, tmp_path / "chat.jsonl", "chat")
    records = [json.loads(line) for line in chat.read_text().splitlines()]
    assert len(records) == 2  # the failed row has no label and is left out
    roles = [m["role"] for m in records[1]["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert json.loads(records[1]["messages"][2]["content"]) == {"labels": ["Product", "Price"]}
    assert records[0]["messages"][1]["content"] == "Text: Nice shoes"
    comp = export_rows(FOUR_P, frame, tmp_path / "comp.jsonl", "completion")
    rows = [json.loads(line) for line in comp.read_text().splitlines()]
    assert rows[1]["prompt"].endswith("Text: Bad\nLabel:") and rows[1]["completion"] == " Product, Price"
    assert completion_record(SENTIMENT, "x", "positive")["completion"] == " positive"
    assert json.loads(chat_record(SENTIMENT, "x", "negative")["messages"][2]["content"]) == {"label": "negative"}
    table = export_rows(FOUR_P, frame, tmp_path / "t.csv")
    assert pd.read_csv(table)["text"].tolist() == ["Nice shoes", "Bad", "Lost"]
    with pytest.raises(InputError, match="--format"):
        export_rows(FOUR_P, frame, tmp_path / "t.txt")


def test_chat_and_completion_need_a_jsonl_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format chat -o out.csv wrote JSONL lines into a .csv (a .parquet that no Parquet reader opens); the name is
    refused with one line before any request (the teacher URL here answers nothing)."""
    from sxhub.cli import main

    frame = pd.DataFrame({"text": ["Nice shoes"], "labels": [["Product"]], "failed": [False]})
    for fmt, name in (("chat", "chat.csv"), ("completion", "comp.parquet"), ("chat", "chat")):
        with pytest.raises(InputError, match=r"does not end in \.jsonl"):
            export_rows(FOUR_P, frame, tmp_path / name, fmt)
        assert not (tmp_path / name).exists()
    task = write_task(tmp_path, "http://127.0.0.1:9/v1")
    with pytest.raises(SystemExit) as info:
        main(["-q", "generate", str(task), "-o", str(tmp_path / "out.csv"), "--n", "2", "--format", "chat"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "'out.jsonl'" in err and "\n" not in err and not (tmp_path / "out.csv").exists()


# ------------------------------------------------------------------------------------------------------------------
# CLI against a local OpenAI-compatible stand-in
# ------------------------------------------------------------------------------------------------------------------
def server_responder(body: dict[str, Any], n: int) -> Answer:
    props = schema_of(body).get("properties", {})
    if "twin" in props:
        return Answer(json.dumps({"twin": "A friend said the new lamp from a corner shop is lovely"}))
    if "text" in props:
        return Answer(json.dumps({"text": f"Generated text {len(user_text(body)) % 97} {n} {body.get('seed')}"}))
    return Answer(default_answer(body))


def write_task(tmp_path: Path, url: str) -> Path:
    spec = SENTIMENT.with_teachers([{"base_url": url, "model": "fake"}])
    path = tmp_path / "task.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    return path


def test_cli_twins_and_generate(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["Love the lamp @IKEA sold me", "Hate the @IKEA queue"]}).to_csv(source, index=False)
    runner = CliRunner()
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        out = tmp_path / "twins.csv"
        run = runner.invoke(
            cli,
            [
                "twins",
                str(task),
                str(source),
                "-o",
                str(out),
                "--focal-brand",
                "IKEA",
                "--json",
                "--cache-dir",
                str(tmp_path / "c"),
            ],
        )
        assert run.exit_code == 0, run.output
        summary = json.loads(run.stdout)
        # two rewrites, then the votes on the twins: the stand-in writes both twins alike, and the same request on
        # its way is sent once (copies asked side by side were each paid for: 6 or more requests)
        assert summary["n"] == 2 and summary["failed"] == 0 and summary["ledger"]["requests"] == 5
        twins = pd.read_csv(out)
        assert {"original", "text", "label", "similarity", "leaked", "ok", "flags"} <= set(twins.columns)
        assert twins["original"].str.contains("@SynFcl").all()
        gen_out = tmp_path / "gen.jsonl"
        run = runner.invoke(
            cli,
            [
                "generate",
                str(task),
                "-o",
                str(gen_out),
                "--n",
                "4",
                "--topic",
                "lamps",
                "--format",
                "chat",
                "--cache-dir",
                str(tmp_path / "c"),
            ],
        )
        assert run.exit_code == 0, run.output
        lines = [json.loads(x) for x in gen_out.read_text().splitlines()]
        assert len(lines) == 4 and all(len(x["messages"]) == 3 for x in lines)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["twins", "--min-similarity", "2"], "--min-similarity"),
        (["twins", "--max-shared-ngrams", "-1"], "--max-shared-ngrams"),
        (["twins", "--temperature", "3"], "--temperature"),
        (["twins", "--concurrency", "0"], "--concurrency"),
        (["generate", "--n", "0"], "--n"),
        (["generate", "--temperature", "-1"], "--temperature"),
        (["generate", "--min-distance", "5"], "--min-distance"),
    ],
)
def test_an_out_of_range_option_of_twins_or_generate_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str
) -> None:
    """`twins --min-similarity 2` ended "min_similarity=2.0 must be a number from -1.0 to 1.0", the Python field,
    and only after the teachers were set up; `--concurrency 0` said "concurrency=0 must be at least 1". These
    options now take click ranges, as annotate's --concurrency does: the usage error names the option, exit 2."""
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["Love the lamp"]}).to_csv(source, index=False)
    task = write_task(tmp_path, "http://127.0.0.1:9/v1")
    verb, *rest = argv
    inputs = [str(task), str(source)] if verb == "twins" else [str(task)]
    extra = ["--n", "3"] if verb == "generate" and "--n" not in rest else []
    code, _, err = run_cli([verb, *inputs, "-o", str(tmp_path / "out.csv"), *extra, *rest], capsys)
    assert code == 2 and f"Error: Invalid value for '{option}'" in err


def test_cli_twins_reads_a_txt_file_and_stdin_one_text_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``twins TASK texts.txt`` was refused ("has extension '.txt'") while ``predict`` read the file one text per
    line; it is read by predict's reader now, and so is ``-`` (stdin): twins holds no parts to resume, and its cache
    is keyed by content. An empty line is an empty text, which twins leaves out as it does an empty cell."""
    import io
    import sys

    lines = b"Love the lamp @IKEA sold me\r\n\nHate the @IKEA queue\n"
    (tmp_path / "in.txt").write_bytes(lines)
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        for source in (str(tmp_path / "in.txt"), "-"):
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
            out = tmp_path / f"twins-{len(source)}.csv"
            argv = ["-q", "twins", task.as_posix(), source, "-o", str(out), "--focal-brand", "IKEA"]
            code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c"), "--json"], capsys)
            assert code == 0, err
            twins = pd.read_csv(out)
            assert len(twins) == 2 and twins["original"].str.contains("@SynFcl").all()


def test_cli_twins_exits_1_when_no_twin_was_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A teacher that never wrote a readable twin gave a file of failed rows and exit 0 ('twins && train' trained on
    nothing), where annotate and generate exit 1: the summary, then one error line, the file kept."""
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["Love the lamp @IKEA sold me", "Hate the @IKEA queue"]}).to_csv(source, index=False)

    def refuses(body: dict[str, Any], n: int) -> Answer:
        if "twin" in schema_of(body).get("properties", {}):
            return Answer("I cannot rewrite that")
        return Answer(default_answer(body))

    with FakeOpenAIServer(refuses) as server:
        task = write_task(tmp_path, server.url)
        out = tmp_path / "twins.csv"
        argv = ["-q", "twins", str(task), str(source), "-o", str(out), "--cache-dir", str(tmp_path / "c")]
        code, stdout, err = run_cli(argv, capsys)
    assert code == 1 and "twinned 2 texts: 0 ok, 0 flagged {}, 2 failed" in stdout
    assert err.strip().count("\n") == 0 and "no twin was written and labelled: all 2 failed" in err
    assert "invalid rewrite" in err
    assert pd.read_csv(out)["failed"].all()


def test_cli_generate_refuses_a_voter_without_a_token_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """generate --writer URL with the spec's Hub-model teacher and no HF token: every text was written, then the
    vote's first request said the token was missing, nothing saved. Now that line comes first, no text written."""
    task = tmp_path / "task.yaml"
    task.write_text(SENTIMENT.with_teachers(["org/some-model"]).to_yaml(), encoding="utf-8")
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_responder) as server:
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "3", "--writer", server.url]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert not server.requests  # nothing written
    assert code == 2 and "teacher 'org/some-model' is a Hub model id" in err and "none is set" in err, err
    assert "so it wrote none: fix that, or vote with teachers that can be called (--teacher" in err
    assert not out.exists()


def test_cli_generate_saves_the_written_texts_when_the_vote_cannot_be_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A writer wrote every text (with a local --writer, minutes), then the teachers' vote stopped (a voter whose
    server is down): the error line came and OUT was never written, the texts lost. They are saved unlabelled (OUT,
    or beside a chat file), the line says where and how to label them, and that command labels them."""
    dead = "http://127.0.0.1:9/v1"  # nothing listens: no check can know before a request is sent
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, dead)
        for name, saved_name in (("gen.csv", "gen.csv"), ("gen.jsonl", "gen.unlabelled.jsonl")):
            out = tmp_path / name
            argv = ["-q", "generate", str(task), "-o", str(out), "--n", "3", "--writer", server.url]
            argv += ["--cache-dir", str(tmp_path / "c"), *(["--format", "chat"] if name.endswith("jsonl") else [])]
            code, _, err = run_cli(argv, capsys)
            saved = tmp_path / saved_name
            assert code == 2 and [line.startswith("Error:") for line in err.splitlines()].count(True) == 1, err
            assert (
                f"nothing answers at {dead}" in err and f"the 3 written texts are saved unlabelled in '{saved}'" in err
            )
            assert f"`sxhub annotate {task} {saved} -o LABELLED.csv`" in err
            frame = pd.read_csv(saved) if saved.suffix == ".csv" else pd.read_json(saved, lines=True)
            assert len(frame) == 3 and frame["failed"].all() and frame["text"].str.startswith("Generated text").all()
            assert frame["error"].str.startswith("not labelled: teacher").all()
            assert set(frame["prompted_label"]) <= set(SENTIMENT.label_names)
        assert not (tmp_path / "gen.jsonl").exists()  # chat records need a label: none was written there
        labelled = tmp_path / "labelled.csv"
        argv = ["-q", "annotate", str(task), str(tmp_path / "gen.csv"), "-o", str(labelled), "--teacher", server.url]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 0, err
    frame = pd.read_csv(labelled)
    assert len(frame) == 3 and not frame["failed"].any() and set(frame["label"]) <= set(SENTIMENT.label_names)


def test_cli_generate_that_succeeds_removes_the_unlabelled_texts_a_stopped_chat_run_saved_beside_its_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A stopped chat run saves its texts in ``<stem>.unlabelled.jsonl`` (a record needs a label): a later run into
    the same OUT that succeeded left that file and its ledger beside it, another run's texts. They are removed, and
    a line says so."""
    dead = "http://127.0.0.1:9/v1"
    out, saved = tmp_path / "gen.jsonl", tmp_path / "gen.unlabelled.jsonl"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, dead)
        argv = ["generate", str(task), "-o", str(out), "--n", "3", "--writer", server.url, "--format", "chat"]
        argv += ["--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(["-q", *argv], capsys)
        assert code == 2 and saved.is_file() and (tmp_path / "gen.unlabelled.ledger.json").is_file(), err
        caplog.clear()
        with caplog.at_level("WARNING"):
            code, _, err = run_cli([*argv, "--teacher", server.url], capsys)
    assert code == 0, err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    assert not saved.exists() and not (tmp_path / "gen.unlabelled.ledger.json").exists()
    lines = [line for line in sxhub_logged(caplog) if "removed" in line]
    assert len(lines) == 1 and f"removed '{saved}' and '{tmp_path / 'gen.unlabelled.ledger.json'}'" in lines[0]


def test_cli_generate_gives_the_texts_it_saved_when_it_stopped_their_ledger_and_a_rerun_goes_on_from_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The texts a stopped generate saves (here: its voter's server is down) had no ledger, while every other file
    sxhub writes has one: nothing said who wrote them, what writing them cost, nor why the run stopped, and a
    ``publish dataset`` or a later run could not tell whose they were. Their ledger is beside them now, naming them
    as its output; the rerun with a voter that answers is not refused over it, writes no text again (the cache
    holds them) and replaces it with the whole run's."""
    from sxhub.tables import ledger_path, own_ledger

    dead = "http://127.0.0.1:9/v1"
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, dead)
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "3", "--writer", server.url]
        argv += ["--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and "saved unlabelled" in err, err
        ledger = own_ledger(out)
        assert ledger is not None, sorted(p.name for p in tmp_path.iterdir())
        assert ledger["n_texts"] == ledger["failed_texts"] == len(pd.read_csv(out)) == 3
        writer = f"teacher@{server.url}"
        assert ledger["writers"] == [writer] and ledger["voters"] == [f"fake@{dead}"]
        assert ledger["teachers"][writer]["requests"] == len(server.requests) >= 3
        tried = ledger["teachers"][f"fake@{dead}"]  # the vote's tries at the dead voter: counted, no token spent
        assert tried["requests"] >= 1 and tried["input_tokens"] == tried["output_tokens"] == 0
        assert ledger["requests"] == len(server.requests) + tried["requests"]
        assert ledger["input_tokens"] > 0 and ledger["output_tokens"] > 0 and "cost_usd" in ledger
        assert f"nothing answers at {dead}" in ledger["stopped"]
        asked = len(server.requests)
        code, stdout, err = run_cli([*argv, "--teacher", server.url, "--json"], capsys)
        assert code == 0, err
        assert len(server.requests) == asked + 3  # the three votes; no text written again
    frame = pd.read_csv(out)
    assert len(frame) == 3 and not frame["failed"].any()
    again = json.loads(ledger_path(out).read_text(encoding="utf-8"))
    summary = json.loads(stdout)["ledger"]
    assert "stopped" not in again and again["cached"] == summary["cached"] >= 3  # the texts, from the cache
    assert again["requests"] == summary["requests"] == 3 and again["output"] == str(out)


def test_cli_generate_max_minutes_stops_writing_at_the_cap_and_keeps_the_texts_written_by_then(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sxhub generate`` had no ``--max-minutes`` (train has): "as many texts as fit in 30 minutes" could only be
    had with Ctrl-C, which leaves them unlabelled. At the cap no text is asked for; those written by then are voted
    on and saved, the summary and the ledger say it stopped at the cap, and the run exits 0."""
    from sxhub.tables import own_ledger

    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_responder, delay=0.1) as server:
        task = write_task(tmp_path, server.url)
        argv = ["generate", str(task), "-o", str(out), "--n", "60", "--concurrency", "1", "--max-minutes", "0.01"]
        code, stdout, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        written = [b for b in server.requests if "text" in schema_of(b).get("properties", {})]
    assert code == 0, err
    frame = pd.read_csv(out)
    assert 1 <= len(frame) < 60 and len(written) < 60  # the cap stopped the writing (0.6 s, 0.1 s a request)
    assert not frame["failed"].any() and set(frame["label"]) <= set(SENTIMENT.label_names)  # voted on
    ledger = own_ledger(out)
    assert ledger is not None and "time cap after 0.01 min (--max-minutes)" in ledger["stopped"]
    assert (
        f"generated {len(frame)} text{'' if len(frame) == 1 else 's'} (" in stdout
        and "stopped by the time cap after 0.01 min" in stdout
    )
    code, _, err = run_cli([*argv[:-2], "--max-minutes", "0"], capsys)
    assert code == 2 and "--max-minutes" in err


def test_cli_generate_whose_vote_runs_past_max_minutes_is_not_said_to_have_stopped_at_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every text written before the cap, the vote running past it: the ledger's stopped and the summary said
    "stopped by the time cap ... no text was asked for after it" over a complete file (the cap was read from the
    clock after the vote). Only a cap that stopped some writing is said."""
    from sxhub.tables import own_ledger

    def slow_votes(body: dict[str, Any], n: int) -> Answer:
        if "text" not in schema_of(body).get("properties", {}):
            time.sleep(0.4)  # the vote: 2 texts x 0.4 s, past the 0.01 min (0.6 s) cap
        return server_responder(body, n)

    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(slow_votes) as server:
        task = write_task(tmp_path, server.url)
        argv = ["generate", str(task), "-o", str(out), "--n", "2", "--concurrency", "1", "--max-minutes", "0.01"]
        code, stdout, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 0, err
    assert len(pd.read_csv(out)) == 2
    ledger = own_ledger(out)
    assert ledger is not None and "stopped" not in ledger
    assert "time cap" not in stdout + err


def test_cli_annotate_of_written_texts_carries_what_writing_them_cost_to_its_ledger_and_the_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Labelling the texts a stopped generate saved gave a ledger of the vote alone: the dataset card's Cost table
    (publish dataset reads the labelled file's own ledger) left out what writing them had cost. annotate carries
    the input's generate ledger as ``written`` (again when that labelled file is labelled once more), and the Cost
    table shows its rows."""
    from sxhub.cards import ledger_rows
    from sxhub.tables import own_ledger

    dead = "http://127.0.0.1:9/v1"
    gen, labelled, again = tmp_path / "gen.csv", tmp_path / "labelled.csv", tmp_path / "again.parquet"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, dead)
        argv = ["-q", "generate", str(task), "-o", str(gen), "--n", "3", "--writer", server.url]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert code == 2 and "saved unlabelled" in err, err
        writing = own_ledger(gen)
        assert writing is not None and writing["requests"] > 0
        for source, out in ((gen, labelled), (labelled, again)):
            argv = ["-q", "annotate", str(task), str(source), "-o", str(out), "--teacher", server.url]
            code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
            assert code == 0, err
    for out in (labelled, again):
        ledger = own_ledger(out)
        assert ledger is not None and ledger["output"] == str(out)
        written = ledger["written"]
        assert written["requests"] == writing["requests"] and written["writers"] == writing["writers"]
        assert written["input_tokens"] == writing["input_tokens"] > 0 and "output" not in written
        rows = dict(ledger_rows(ledger))
        assert rows["written.requests"] == str(writing["requests"]) and "written.cost_usd" in rows
        assert f"written.teachers.teacher@{server.url}.requests" in rows
    assert own_ledger(labelled)["requests"] == 3  # type: ignore[index]  # the vote's own, beside the writing's


def test_sxhub_run_on_written_texts_carries_what_writing_them_cost_as_annotate_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_base_model: Path
) -> None:
    """`sxhub annotate` carries a generate ledger found beside its input as `written`; `sxhub run` on the same file
    wrote a ledger of its vote alone, so its dataset card left out what writing the texts cost (second reviewer).
    (3 texts: the run stops at its split, after the labelled file and its ledger are written.)"""
    from sxhub.tables import own_ledger

    gen, out = tmp_path / "gen.csv", tmp_path / "run"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        argv = ["-q", "generate", str(task), "-o", str(gen), "--n", "3", "--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
        argv = ["-q", "run", str(task), str(gen), "--out", str(out), "--base", str(tiny_base_model)]
        run_cli([*argv, "--samples", "1", "--cache-dir", str(tmp_path / "c")], capsys)
    writing = own_ledger(gen)
    labelled = json.loads((out / "labelled.ledger.json").read_text(encoding="utf-8"))
    assert writing is not None and labelled["written"]["requests"] == writing["requests"] > 0
    assert labelled["written"]["writers"] == writing["writers"] and "output" not in labelled["written"]


def test_cli_generate_counts_in_the_saved_texts_ledger_the_vote_that_stopped_half_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A vote that stopped half way (its voter answered two texts, then refused every request with HTTP 401) had
    its requests left out of the saved texts' ledger, though they were paid for and their answers are in the
    cache: the ledger said 6 requests where the server had answered 9. Every request sent is in it now, the vote's
    too, and the error line still says where the texts are."""
    from sxhub.tables import own_ledger

    votes: list[int] = []

    def two_votes_then_401(body: dict[str, Any], n: int) -> Answer | Fail:
        if "text" in schema_of(body).get("properties", {}):
            return server_responder(body, n)
        votes.append(n)
        return Answer(default_answer(body)) if len(votes) <= 2 else Fail(401)

    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(two_votes_then_401) as server:
        task = write_task(tmp_path, server.url)
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "4", "--concurrency", "1"]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        sent = len(server.requests)
    assert code != 0 and "saved unlabelled" in err, err
    assert len(votes) == 3  # two answered, the third refused: the run stopped there
    ledger = own_ledger(out)
    assert ledger is not None and ledger["n_texts"] == len(pd.read_csv(out)) == 4
    assert ledger["requests"] == sent and sum(t["requests"] for t in ledger["teachers"].values()) == sent


def test_generate_keeps_the_written_texts_on_the_interrupt_of_the_vote() -> None:
    """The Python API: Ctrl-C during the vote (after the requests in flight finish) ends the run with the written
    texts, unlabelled, on the KeyboardInterrupt (``sxhub_written``), as on a teacher's error; the CLI saves them."""
    import signal

    def ctrl_c(messages: list[dict[str, str]]) -> dict[str, str]:
        signal.raise_signal(signal.SIGINT)  # as a terminal's Ctrl-C, while the vote's first request is on its way
        return {"label": "positive"}

    voter = FakeTeacher(name="voter", responder=ctrl_c)
    writer = FakeTeacher(name="writer", responder=lambda m: {"text": f"text {len(writer.history)}"})
    options = GenerateOptions(n=3)
    with pytest.raises(KeyboardInterrupt) as info:
        generate(SENTIMENT, options, teachers=[voter], writers=[writer], embed=bag_embed, cache=False, concurrency=1)
    frame = info.value.sxhub_written  # type: ignore[attr-defined]
    assert list(frame["text"]) == ["text 1", "text 2", "text 3"] and frame["failed"].all()
    assert frame["label"].isna().all() and set(frame["error"]) == {"not labelled: KeyboardInterrupt"}
    assert len(voter.history) == 1  # the request on its way finished; no other was sent
    ledger = info.value.sxhub_written_ledger  # type: ignore[attr-defined]
    assert ledger["stopped"] == "KeyboardInterrupt" and ledger["n_texts"] == 3
    assert ledger["writers"] == ["writer"] and ledger["voters"] == ["voter"]
    assert ledger["teachers"]["writer"]["requests"] == len(writer.history) == 3


def test_cli_generate_interrupted_in_the_vote_saves_the_written_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during the vote: the interruption line says where the written texts are and how to label them."""
    import os
    import signal

    def ctrl_c_on_the_vote(body: dict[str, Any], n: int) -> Answer:
        if "text" not in schema_of(body).get("properties", {}):
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C, while this vote is on its way
        return server_responder(body, n)

    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(ctrl_c_on_the_vote) as server:
        task = write_task(tmp_path, server.url)
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "2", "--concurrency", "1"]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 130, err
    assert f"the 2 written texts are saved unlabelled in '{out}': label them with `sxhub annotate {task} {out}" in err
    assert err.strip().splitlines()[-1].startswith("Interrupted; the teachers' answers are kept")
    assert len(pd.read_csv(out)) == 2


@pytest.fixture
def hub_voter(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A voting teacher given as a Hub model id, answered by the Inference Providers router stand-in."""
    from huggingface_hub import constants
    from huggingface_hub.inference._providers import CONVERSATIONAL_AUTO_ROUTER
    from provider_router import ProviderRouter

    with ProviderRouter() as router:
        monkeypatch.setenv("HF_TOKEN", "hf_provider_test_token")
        monkeypatch.setattr(constants, "ENDPOINT", router.root)
        monkeypatch.setattr(CONVERSATIONAL_AUTO_ROUTER, "base_url", router.root)
        yield router


def worded_responder(body: dict[str, Any], n: int) -> Answer:
    """:func:`server_responder` with a word of each text's own: texts that differ in the request's seed alone (a
    long number under any ``--seed`` but 0) are near duplicates to MiniLM."""
    if "text" in schema_of(body).get("properties", {}):
        seed = int(body.get("seed") or 0)
        word = ("lamps", "rivers", "taxes", "violins", "snow", "cheese", "orbits", "harbours", "jazz", "tulips")[
            seed % 10
        ]
        return Answer(json.dumps({"text": f"Generated text {seed} about {word}"}))
    return server_responder(body, n)


def generate_with_hub_voter(tmp_path: Path, writer: str, out: Path, *rest: str) -> list[str]:
    """``generate`` with the Hub-model voter in the spec, the writer at ``writer`` and a cache in ``tmp_path``."""
    from provider_router import MODEL

    task = tmp_path / "task.yaml"
    task.write_text(SENTIMENT.with_teachers([MODEL]).to_yaml(), encoding="utf-8")
    argv = ["-q", "generate", str(task), "-o", str(out), "--writer", writer, "--seed", "7"]
    return [*argv, "--cache-dir", str(tmp_path / "c"), *rest]


def test_cli_generate_offline_reruns_from_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, hub_voter: Any
) -> None:
    """HF_HUB_OFFLINE=1 and the spec's Hub-model voter: the rerun of a generate run (same options, same seed) was
    refused before a text was written, though the cache held every text and every vote it needed, while annotate
    answers such a rerun from the cache. It now writes the same output from the cache, sending no request."""
    with FakeOpenAIServer(worded_responder) as writer:
        first, again = tmp_path / "gen.csv", tmp_path / "again.csv"
        code, _, err = run_cli(generate_with_hub_voter(tmp_path, writer.url, first, "--n", "3"), capsys)
        assert code == 0, err
        asked = (len(writer.requests), len(hub_voter.requests))
        assert asked == (3, 3)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        code, stdout, err = run_cli(generate_with_hub_voter(tmp_path, writer.url, again, "--n", "3", "--json"), capsys)
        assert code == 0, err
        assert (len(writer.requests), len(hub_voter.requests)) == asked  # nothing sent
    assert json.loads(stdout)["ledger"]["cached"] == 6
    pd.testing.assert_frame_equal(pd.read_csv(again), pd.read_csv(first))
    assert not pd.read_csv(again)["failed"].any()


def test_cli_generate_offline_with_a_cache_miss_fails_in_one_line_and_keeps_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, hub_voter: Any
) -> None:
    """HF_HUB_OFFLINE=1 and a run the cache cannot answer: texts it does not hold are not written (their votes
    cannot be cached), as before; texts it holds whose votes it lacks are saved unlabelled. One error line names
    the fix, exit 2, and the run without HF_HUB_OFFLINE asks only for what the cache does not hold."""
    with FakeOpenAIServer(worded_responder) as writer:
        code, _, err = run_cli(generate_with_hub_voter(tmp_path, writer.url, tmp_path / "gen.csv", "--n", "3"), capsys)
        assert code == 0, err
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        more = tmp_path / "more.csv"  # a 4th text: the cache holds 3
        code, _, err = run_cli(generate_with_hub_voter(tmp_path, writer.url, more, "--n", "4"), capsys)
        assert code == 2 and [line.startswith("Error:") for line in err.splitlines()].count(True) == 1, err
        assert "HF_HUB_OFFLINE is set" in err and "unset HF_HUB_OFFLINE to call this teacher" in err
        assert "the cache holds 3 of the 4 texts asked for next" in err and "so it wrote none" in err
        assert "vote with teachers that can be called (--teacher" in err and not more.exists()
        assert (len(writer.requests), len(hub_voter.requests)) == (3, 3)

        twice = tmp_path / "twice.csv"  # every text cached, the second sample of each vote not
        code, _, err = run_cli(
            generate_with_hub_voter(tmp_path, writer.url, twice, "--n", "3", "--samples", "2"), capsys
        )
        assert code == 2 and [line.startswith("Error:") for line in err.splitlines()].count(True) == 1, err
        assert "unset HF_HUB_OFFLINE" in err and "the cache holds the texts but not every vote on them" in err
        assert f"the 3 written texts are saved unlabelled in '{twice}'" in err
        saved = pd.read_csv(twice)
        assert len(saved) == 3 and saved["failed"].all()
        assert list(saved["text"]) == list(pd.read_csv(tmp_path / "gen.csv")["text"])
        assert (len(writer.requests), len(hub_voter.requests)) == (3, 3)

        monkeypatch.delenv("HF_HUB_OFFLINE")
        code, _, err = run_cli(
            generate_with_hub_voter(tmp_path, writer.url, twice, "--n", "3", "--samples", "2"), capsys
        )
        assert code == 0, err
        assert (len(writer.requests), len(hub_voter.requests)) == (3, 6)  # only the 3 second samples were asked
    assert not pd.read_csv(twice)["failed"].any()


def test_cli_generate_offline_votes_with_a_server_of_the_users_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_OFFLINE=1 and a voter at the user's own base_url: generate refused it before writing a text, as if it
    were on the Hub ("unset HF_HUB_OFFLINE"). It now writes and votes with no cache to answer from; only a voter on
    the Hub is refused (the tests above)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "3", "--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    written = pd.read_csv(out)
    assert len(written) == 3 and not written["failed"].any()


def test_cli_bad_output_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sxhub.cli import main

    task = write_task(tmp_path, "http://127.0.0.1:9/v1")
    with pytest.raises(SystemExit) as info:
        main(["-q", "generate", str(task), "-o", str(tmp_path / "x.txt"), "--n", "2"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--format" in err and "\n" not in err


def test_topics_file_keeps_hashtag_topics_and_skips_comments(tmp_path: Path) -> None:
    """Every line starting with "#" was a comment, so hashtag topics (#BlackFriday) vanished without a word; only
    "# " (or a lone "#") starts a comment now."""
    from sxhub.cli.synth import _read_lines

    path = tmp_path / "topics.txt"
    path.write_text("# topics for the 4P task\n#BlackFriday\nshipping delays\n\n#\n#Ad campaigns\n#\tnote\n")
    assert _read_lines(str(path)) == ["#BlackFriday", "shipping delays", "#Ad campaigns"]
    path.write_text("# only a comment\n")
    with pytest.raises(InputError, match="holds no topic"):
        _read_lines(str(path))


def test_cli_topics_file_saved_with_a_byte_order_mark_or_not_in_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A topics file saved "UTF-8 with BOM" (Notepad) had its first line, a comment, read as the topic "\ufeff# ..."
    and written about; one in cp1252 ended "Error: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9", exit
    1, naming neither the file nor the fix. The mark is dropped, and a file that is not UTF-8 is one line, exit 2."""
    from sxhub.cli.synth import _read_lines

    path = tmp_path / "topics.txt"
    path.write_bytes("# topics\ncafés\nbanks\n".encode("utf-8-sig"))
    assert _read_lines(str(path)) == ["cafés", "banks"]
    path.write_bytes("cafés\nbanks\n".encode("cp1252"))
    task = write_task(tmp_path, "http://127.0.0.1:9/v1")
    argv = ["generate", str(task), "-o", str(tmp_path / "gen.csv"), "--n", "2", "--topics", str(path)]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and err.strip().count("\n") == 0, err
    assert f"topics file {str(path)!r} is not UTF-8 text" in err and "save it as UTF-8" in err


def test_seed_examples_read_the_one_flag_column_per_label_layout_and_skip_rows_without_text(tmp_path: Path) -> None:
    """``generate --seed-examples`` on the 4P tweets' own layout (``Text`` and one True/False column per label):
    the labels come from the flags, as train reads them; before, every example went to the teacher without a label,
    and an empty cell became the example text "nan"."""
    from sxhub.cli.synth import _read_examples

    spec = TaskSpec(name="4p", labels=["Product", "Place", "Price", "Promotion"], multi_label=True)
    path = tmp_path / "seed.csv"
    pd.DataFrame(
        {
            "Text": ["Loved the shoes, half price", None, "New ad campaign"],
            "Product": [True, False, False],
            "Place": [False, False, False],
            "Price": [True, True, False],
            "Promotion": [False, False, True],
        }
    ).to_csv(path, index=False)
    examples, n_flagged_twins = _read_examples(str(path), spec)
    assert n_flagged_twins == 0
    assert [(e.text, e.labels) for e in examples] == [
        ("Loved the shoes, half price", ["Product", "Price"]),
        ("New ad campaign", ["Promotion"]),
    ]


def test_seed_examples_match_labels_as_sxhub_does_and_say_which_they_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A seed example's label in another case or spacing than the task's ("Positive", " negative ") was dropped,
    and one that is no task label ("bullish") too, without a word: the teacher saw the examples unlabelled. They
    are matched as train and the votes match labels now; one warning line names those left out."""
    from sxhub.cli.synth import _read_examples

    path = tmp_path / "seed.csv"
    frame = {"text": ["Love it", "Meh", "Hate it", "Up we go", "To the moon"]}
    frame["label"] = ["Positive", " NEGATIVE ", "negative", "bullish", "bullish"]
    pd.DataFrame(frame).to_csv(path, index=False)
    with caplog.at_level("WARNING"):
        examples, _ = _read_examples(str(path), SENTIMENT)
    assert [e.labels for e in examples] == [["positive"], ["negative"], ["negative"], [], []]
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(lines) == 1 and "'bullish' (2 examples)" in lines[0] and "positive" in lines[0], lines


def test_seed_examples_without_a_text_column_name_a_fix_generate_has(tmp_path: Path) -> None:
    """The error told the user to "pass --text-column NAME", an option generate does not have."""
    from sxhub.cli.synth import _read_examples

    path = tmp_path / "seed.csv"
    pd.DataFrame({"headline": ["Profit rose"], "label": ["positive"]}).to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        _read_examples(str(path), SENTIMENT)
    message = str(info.value)
    assert "--text-column" not in message and "rename the column of the texts to 'text'" in message
    assert "['headline', 'label']" in message


@pytest.mark.parametrize("fmt", ["chat", "completion"])
def test_generate_says_how_many_records_a_chat_or_completion_file_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """Unlabelled texts are no training examples and are left out of chat/completion files, but the summary said
    "generated 4 texts (1 unlabelled ...); wrote gen.jsonl" over a file of 3 lines (of 0 when every vote failed)."""
    texts = ["The lamp broke after one day.", "Shipping was fast and friendly.", "Prices went up again this spring.",
             "The store layout is confusing."]  # fmt: skip

    def responder(body: dict[str, Any], n: int) -> Answer:
        if "text" in schema_of(body).get("properties", {}):
            return Answer(json.dumps({"text": texts[int(body["seed"]) % len(texts)]}))
        return Answer("no vote" if "confusing" in user_text(body) else default_answer(body))

    out = tmp_path / "gen.jsonl"
    with FakeOpenAIServer(responder) as server:
        task = write_task(tmp_path, server.url)
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "4", "--format", fmt, "--cache-dir", str(tmp_path)]
        code, line, _ = run_cli(argv, capsys)
        assert code == 0
        line = line.strip()
        code, stdout, _ = run_cli([*argv, "--json"], capsys)
        summary = json.loads(stdout)
    assert len(out.read_text().splitlines()) == 3
    assert "generated 4 texts (1 unlabelled" in line
    assert line.endswith(f"wrote 3 {fmt} records to {out} (the 1 unlabelled text left out: no label to train on)")
    assert summary["n"] == 4 and summary["failed"] == 1 and summary["records"] == 3


def test_generate_stops_topping_up_after_two_rounds_that_kept_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """A writer that writes the same text every time: --max-rounds 8 wrote --n requests in every one of the 8 rounds
    (4 + 7 x 3 = 25 to keep one text), where --balance and --min-agreement stop after two barren rounds."""
    teacher = FakeTeacher(
        responder=lambda messages: (
            {"text": "The very same text."}
            if "Write one new text" in messages[-1]["content"]
            else {"label": "positive"}
        )
    )
    with caplog.at_level("WARNING", logger="sxhub.generate"):
        result = generate(
            SENTIMENT,
            GenerateOptions(n=4, max_rounds=8),
            teachers=[teacher],
            embed=bag_embed,
            progress=False,
            cache=False,
        )
    written = [c for c in teacher.history if "Write one new text" in c.messages[-1]["content"]]
    assert len(result.frame) == 1 and len(written) == 4 + 3 + 3
    assert result.dropped["duplicate"] == 9
    assert "1 of 4 texts after 3 rounds, stopped after 2 rounds in a row that kept none" in caplog.text


def test_generate_embeds_every_text_once_across_rounds() -> None:
    """Each round's duplicate check embedded every seed example and every earlier text again: a seed file of
    thousands of texts cost a minute of CPU per round. The vectors are now kept for the run."""
    seen: Counter[str] = Counter()

    def counting_embed(texts: Sequence[str]) -> np.ndarray:
        seen.update(texts)
        return bag_embed(texts)

    calls = itertools.count()
    teacher = FakeTeacher(
        responder=lambda messages: (
            ({"text": f"fresh text number {k}"} if (k := next(calls)) % 2 else {"text": "The same text."})
            if "Write one new text" in messages[-1]["content"]
            else {"label": "positive"}
        )
    )
    pool = [Example(f"seed example {word}", ["positive"]) for word in ("alpha", "beta", "gamma", "delta", "omega")]
    options = GenerateOptions(n=6, seed_examples=pool, max_rounds=4, min_distance=0.0)
    result = generate(SENTIMENT, options, teachers=[teacher], embed=counting_embed, progress=False, cache=False)
    assert len(result.frame) == 6 and result.dropped["duplicate"] > 0  # it took several rounds
    assert all(seen[e.text] == 1 for e in pool) and max(seen.values()) == 1, seen


def test_generate_whose_writer_only_repeats_names_the_duplicates_not_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A writer that handed back a seed example every time (every reply a duplicate) was told to 'fix the writer
    (refusals, invalid answers)', which it had none of: the error names the repeats and what makes writing vary."""

    def repeats(body: dict[str, Any], n: int) -> Answer:
        if "text" in schema_of(body).get("properties", {}):
            return Answer(json.dumps({"text": "Profit rose 5% in the quarter, the best in years."}))
        return Answer(default_answer(body))

    seeds = tmp_path / "seeds.csv"
    pd.DataFrame({"text": ["profit ROSE 5% in the quarter -- the best in years", "Sales fell."]}).to_csv(seeds)
    with FakeOpenAIServer(repeats) as server:
        task = write_task(tmp_path, server.url)
        out = tmp_path / "gen.csv"
        argv = ["generate", str(task), "-o", str(out), "--n", "3", "--seed-examples", str(seeds)]
        code, stdout, err = run_cli([*argv, "--min-distance", "0", "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 1, err
    assert "'copied_prompt': 6, 'duplicate': 0" in stdout  # 2 barren rounds of 3, each the seed example shown again
    error = err.strip().splitlines()[-1]
    assert error.startswith("Error: no new text was written: every reply repeated a text already written or a seed")
    assert "lower --min-distance" in error and "refusals" not in error
    assert out.exists()


@pytest.mark.parametrize(("name", "fmt"), [("gen.csv", "parquet"), ("gen.parquet", "jsonl"), ("gen.jsonl", "csv")])
def test_generate_table_format_against_the_extension_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, fmt: str
) -> None:
    """-o gen.csv --format parquet wrote and voted on every text, then ended in '--format parquet needs an output
    name ending in .parquet' with nothing written: the paid run lost."""
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        argv = ["generate", str(task), "-o", str(tmp_path / name), "--n", "2", "--format", fmt]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert server.requests == []
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"Error: --format {fmt} needs an output name ending in .{fmt}")


def test_generate_that_wrote_nothing_usable_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A writer that refused every request gave an empty file and exit 0, so `generate && train` trained on nothing;
    texts whose every vote failed likewise. Both now exit 1 after the summary, as annotate does when every text
    failed."""

    def refuses(body: dict[str, Any], n: int) -> Answer:
        if "text" in schema_of(body).get("properties", {}):
            return Answer("I'm sorry, I can't help with that.")
        return Answer(default_answer(body))

    def no_labels(body: dict[str, Any], n: int) -> Answer:
        return server_responder(body, n) if "text" in schema_of(body).get("properties", {}) else Answer("no idea")

    for responder, expected in (
        (refuses, "no text was written: every reply was dropped ({'invalid': 3"),
        (no_labels, "none of the 2 written texts got a label: every vote failed"),  # the 3rd was a duplicate
    ):
        with FakeOpenAIServer(responder) as server:
            task = write_task(tmp_path, server.url)
            out = tmp_path / f"{responder.__name__}.csv"
            argv = ["generate", str(task), "-o", str(out), "--n", "3", "--max-rounds", "1"]
            code, stdout, err = run_cli([*argv, "--cache-dir", str(tmp_path / responder.__name__)], capsys)
        assert code == 1, err
        assert stdout.startswith("generated ") and err.strip().splitlines()[-1].startswith(f"Error: {expected}")
        assert out.exists()


def test_generate_chat_records_whose_every_vote_failed_do_not_claim_the_file_keeps_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format chat with every vote failed: the records file holds none (a record needs a label), and the error
    said it "keeps the unlabelled rows". It says the file holds no record and where the texts are: the cache."""

    def no_labels(body: dict[str, Any], n: int) -> Answer:
        return server_responder(body, n) if "text" in schema_of(body).get("properties", {}) else Answer("no idea")

    with FakeOpenAIServer(no_labels) as server:
        task = write_task(tmp_path, server.url)
        out = tmp_path / "gen.jsonl"
        argv = ["-q", "generate", str(task), "-o", str(out), "--n", "2", "--max-rounds", "1", "--format", "chat"]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 1 and out.read_text(encoding="utf-8") == ""
    error = err.strip().splitlines()[-1]
    assert error.startswith("Error: none of the 2 written texts got a label: every vote failed")
    assert "keeps the unlabelled rows" not in error
    assert f"{out} holds no chat record (a record needs a label); the cache keeps the written texts" in error


def test_train_and_publish_leave_out_twins_that_failed_a_check_and_never_publish_the_originals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A twin that failed a check (ok=False: it kept @anna and her e-mail, or the focal brand) was trained on and
    published like the others, and publish dataset published every original (masked, with its names and places) as
    the 'original' column and the identities a twin kept as 'leaked'."""
    from sxhub.dataset_build import load_annotated
    from sxhub.labelled import load_labelled
    from sxhub.targets import data_notes

    texts = [
        "Love my new coat from @Zara on Oxford Street, so warm",
        "Thanks @anna for the tip, mail anna@shop.com if you need the boots",
        "Zara shoes, love them so much",
        "just bad",
    ]
    result = make_twins(
        SENTIMENT,
        texts,
        teachers=[FakeTeacher(responder=twin_responder)],
        options=TwinOptions(focal_brand="Zara", min_similarity=-1.0),
        embed=bag_embed,
        cache=False,
        progress=False,
        backoff=0.01,
    )
    twins = tmp_path / "twins.csv"
    result.frame.to_csv(twins, index=False)
    assert result.frame["ok"].tolist() == [True, False, False, False]  # the last one failed: no twin
    good = result.frame["text"].iloc[0]

    data = load_labelled(twins, label_names=SENTIMENT.label_names, multi_label=False)
    assert data.texts == [good] and data.n_failed == 1 and data.n_flagged_twins == 2
    assert any("2 twin(s) that failed a check" in note for note in data_notes(data))
    frame, n_input, n_failed = load_annotated(twins, SENTIMENT)
    assert frame["text"].tolist() == [good] and (n_input, n_failed) == (4, 1)
    assert not {"original", "original_label", "leaked"} & set(frame.columns)

    task = tmp_path / "task.yaml"
    task.write_text("name: sentiment\nlabels: [positive, negative]\n")
    code, _, err = run_cli(
        ["publish", "dataset", str(twins), "--task", str(task), "--to", str(tmp_path / "ds")], capsys
    )
    assert code == 0, err
    assert "2 twin(s) that failed a check" in caplog.text
    published = " ".join(p.read_text(errors="replace") for p in (tmp_path / "ds").rglob("*") if p.is_file())
    published += " ".join(pd.read_parquet(p).to_json() for p in (tmp_path / "ds").rglob("*.parquet"))
    for secret in ("Oxford Street", "@anna", "anna@shop.com", "Zara shoes"):
        assert secret not in published


def test_generate_leaves_the_twins_that_failed_a_check_out_of_its_seed_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """train leaves out a sxhub twins file's twins that failed a check (ok false), but generate --seed-examples
    showed them to the writer like any row: the twin that kept @anna and her e-mail went into every prompt, for the
    writer to copy into the new texts. They are left out (a failed twin with a text too: it kept a name), and one
    warning says how many (as doubts, review and publish say it; -q shows none), as does --json."""
    seeds = twins_shaped(tmp_path / "twins.csv", n_ok=1)
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        out = tmp_path / "gen.csv"
        argv = ["generate", str(task), "-o", str(out), "--n", "2", "--seed-examples", str(seeds), "--json"]
        code, stdout, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        sent = json.dumps(server.requests)
    assert code == 0, err
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    line = (
        "generate: 3 twin(s) that failed a check of sxhub twins (ok false; see 'flags') left out of the seed examples"
    )
    assert warned == [line]
    assert json.loads(stdout)["seed_examples_left_out"] == {"flagged_twins": 3}
    assert "profit rose strongly this year" in sent  # the one twin that passed every check is shown
    for text in (LEAKED_TWIN, CHANGED_TWIN, UNLABELLED_TWIN):
        assert json.dumps(text)[1:-1] not in sent


def test_annotate_twins_and_generate_take_the_task_yaml_as_run_pipeline_and_train_do(tmp_path: Path) -> None:
    """run_pipeline("task.yaml", ...), train("task.yaml", ...) and agree(task="task.yaml") read the task's YAML, but
    annotate, make_twins and generate took only a TaskSpec: make_twins("task.yaml", texts) ended in AttributeError:
    'str' object has no attribute 'samples'. They take the path too, and anything else is refused in one line, before
    a teacher is asked."""
    from sxhub.annotate import annotate
    from sxhub.errors import SpecError

    task = tmp_path / "task.yaml"
    task.write_text(SENTIMENT.to_yaml(), encoding="utf-8")
    texts = ["Love my new coat, so warm", "just bad, fell apart"]
    twins = {"embed": bag_embed, "progress": False, "cache": False, "backoff": 0.01}
    by_path = make_twins(task, texts, teachers=[FakeTeacher(responder=twin_responder)], **twins)
    by_spec = make_twins(SENTIMENT, texts, teachers=[FakeTeacher(responder=twin_responder)], **twins)
    pd.testing.assert_frame_equal(by_path.frame, by_spec.frame)
    assert by_path.frame.loc[0, "text"] == REWRITES["great"]

    written = itertools.count()

    def writer(messages: list[dict[str, str]]) -> dict[str, str]:
        if "Write one new text" in messages[-1]["content"]:
            return {"text": f"Review number {next(written)} of a coat"}
        return {"label": "positive"}

    options = GenerateOptions(n=2, seed=3)
    made = generate(str(task), options, teachers=[FakeTeacher(responder=writer)], embed=bag_embed, progress=False,
                    cache=False)  # fmt: skip
    written = itertools.count()  # the same texts again
    again = generate(SENTIMENT, options, teachers=[FakeTeacher(responder=writer)], embed=bag_embed, progress=False,
                     cache=False)  # fmt: skip
    pd.testing.assert_frame_equal(made.frame, again.frame)
    labelled = annotate(task, texts, teachers=[FakeTeacher(responder=twin_responder)], cache=False, progress=False)
    assert labelled.frame["label"].tolist() == ["positive", "negative"]

    asked = FakeTeacher(responder=twin_responder)
    for stage, call in {
        "make_twins": lambda: make_twins(3, texts, teachers=[asked], **twins),  # type: ignore[arg-type]
        "generate": lambda: generate(None, options, teachers=[asked], embed=bag_embed),  # type: ignore[arg-type]
        "annotate": lambda: annotate(texts, task, teachers=[asked]),  # type: ignore[arg-type]  # swapped arguments
    }.items():
        with pytest.raises(SpecError) as refused:
            call()
        assert str(refused.value).startswith("spec= takes a TaskSpec, a dict or the path of its YAML file, not "), (
            stage
        )
        assert "\n" not in str(refused.value)
    assert asked.history == []


def test_one_generated_text_is_said_in_the_singular() -> None:
    """The summary said "generated 1 texts"."""
    from sxhub.generate import GenerateResult

    ledger = {"requests": 2, "cached": 0, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.0}
    lines = {}
    for n in (1, 2):
        frame = pd.DataFrame({"text": [f"t{i}" for i in range(n)], "label": ["a"] * n, "prompted_label": ["a"] * n,
                              "failed": [False] * n})  # fmt: skip
        lines[n] = GenerateResult(frame, ledger, {}).summary_line()
    assert lines[1].startswith("generated 1 text (0 unlabelled;")
    assert lines[2].startswith("generated 2 texts (0 unlabelled;")


def test_cli_generate_whose_max_minutes_passed_before_any_request_names_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A --max-minutes that passed before the first round (the teachers slow to start) wrote nothing: the line said
    "every reply was dropped ({'invalid': 0, ...}); fix the writer (refusals, invalid answers)", a writer that was
    never asked. It names the cap and the fix: a higher --max-minutes."""
    from sxhub.generate_writer import Writer

    monkeypatch.setattr(Writer, "timed_out", property(lambda self: self.deadline is not None))
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        argv = ["generate", str(task), "-o", str(out), "--n", "3", "--max-minutes", "0.01"]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert not server.requests
    assert code == 1
    assert "every reply was dropped" not in err and "raise --max-minutes" in err and "0.01" in err


def test_a_text_column_of_numbers_is_refused_by_twins_and_as_seed_examples(tmp_path: Path) -> None:
    """twins asked a teacher to rewrite the ids "1", "2" (--text-column id), and generate took a seed file whose
    text column held numbers as examples "1", "2"; train and predict refuse such a column in one line."""
    from sxhub.cli.synth import _read_examples

    teacher = FakeTeacher(responder=twin_responder)
    frame = pd.DataFrame({"text": ["Love my coat", "Hate the store"], "id": [1, 2]})
    line = r"^column 'id' holds numbers \(.*\), not texts; pass --text-column \(Python: text_column=\) with the column"
    with pytest.raises(InputError, match=line):
        make_twins(
            SENTIMENT, frame, teachers=[teacher], embed=bag_embed, progress=False, cache=False, text_column="id"
        )
    assert teacher.history == []
    seeds = tmp_path / "seeds.csv"
    pd.DataFrame({"text": ["1", "2"], "label": ["positive", "negative"]}).to_csv(seeds, index=False)
    with pytest.raises(
        InputError, match=r"^column 'text' holds numbers \(\[\"1\", \"2\"\]\), not texts; in the seed exam"
    ):
        _read_examples(str(seeds), SENTIMENT)
    # a Parquet binary column is decoded as train decodes it (its repr "b'Love it'" was the seed example's text)
    pd.DataFrame({"text": [b"Love it"], "label": ["positive"]}).to_parquet(tmp_path / "seeds.parquet")
    assert _read_examples(str(tmp_path / "seeds.parquet"), SENTIMENT)[0][0].text == "Love it"
    # texts one per line (a .txt file, stdin: a frame of the one column 'text') are texts whatever they read like,
    # as predict reads them: a file of prices is rewritten, not refused
    lines = pd.DataFrame({"text": ["1999", "2024"]})
    result = make_twins(SENTIMENT, lines, teachers=[teacher], embed=bag_embed, progress=False, cache=False)
    assert result.summary()["n"] == 2


def test_twins_leaves_out_a_text_that_writes_a_missing_value_and_labels_each_twin_its_own() -> None:
    """A text "None" or " nan " (a missing value as a CSV or a database wrote it) was kept by twins but left out by
    the vote on the originals, as every reader leaves it out, so the labels no longer lined up with the texts: an
    IndexError traceback; a pandas string column's missing cell (pd.NA) was "boolean value of NA is ambiguous". A
    twin written as "null" was left out of the vote on the twins alike, and the next twins' labels moved up one row
    onto the wrong twins, with exit 0; it is now an invalid reply, asked again as an unreadable one is."""

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        if is_twin_request(messages):
            return {"twin": "null"} if "first" in user else {"twin": "The shop let me down badly"}
        return {"label": "negative" if "down" in user else "positive"}

    teacher = FakeTeacher(responder=responder)
    for text_cells in (["Love my coat", "None", " nan "], pd.array(["Love my coat", None], dtype="string")):
        frame = pd.DataFrame({"text": text_cells})
        result = make_twins(SENTIMENT, frame, teachers=[teacher], embed=bag_embed, progress=False, cache=False)
        assert result.summary()["n"] == 1 and result.summary()["n_empty"] == len(frame) - 1
    frame = pd.DataFrame({"text": ["My first coat, lovely", "Great shoes from the shop"]})
    out = make_twins(SENTIMENT, frame, teachers=[teacher], embed=bag_embed, progress=False, cache=False).frame
    assert out["text"].tolist() == ["", "The shop let me down badly"]
    assert out["failed"].tolist() == [True, False] and out["label"].tolist() == [None, "negative"]
    assert "invalid rewrite" in out["error"][0]


def test_cli_generate_refuses_an_n_above_what_one_run_can_hold_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--n`` had no upper limit: generate builds every request of a round before the first is sent (about 1.2 kB
    each: --n 1000000 took 1.3 GB and 10 s before it) and compares every text with every other, so
    ``--n 10000000 --max-minutes 60`` used many GB and never wrote a text. One line names the limit and the fix:
    runs of at most that many texts, each with its own --seed."""
    from sxhub.generate import MAX_N

    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_responder) as server:
        task = write_task(tmp_path, server.url)
        argv = ["generate", str(task), "-o", str(out), "--n", "10000000", "--max-minutes", "60"]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert not server.requests
    assert code == 2 and not out.exists()
    line = err.strip().splitlines()[-1]
    assert "n=10000000 (option --n)" in line and f"at most {MAX_N:,}, each with its own --seed" in line, err
