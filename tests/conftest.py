"""Shared fixtures: every test runs with HF_HOME, the label cache and the token in its own tmp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's Hub cache, token or label cache."""
    home = tmp_path / "_hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("SXHUB_CACHE", str(tmp_path / "_sxhub_cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("SXHUB_TEACHER", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """One thread per test process: tiny models train in a second, and parallel jobs do not fight for cores."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(int(os.environ.get("SXHUB_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real expert-labelled data); tests skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found at {SHARED_DATA}: these tests read the real expert-labelled data")
    return SHARED_DATA


WORDS = [
    "profit",
    "rose",
    "fell",
    "loss",
    "sales",
    "growth",
    "bank",
    "shares",
    "market",
    "price",
    "cut",
    "raise",
    "dividend",
    "quarter",
    "year",
    "company",
    "net",
    "revenue",
    "decline",
    "increase",
    "strong",
    "weak",
    "record",
    "low",
    "high",
    "new",
    "product",
    "store",
    "shop",
    "buy",
    "cheap",
    "expensive",
    "sale",
    "discount",
    "ad",
    "campaign",
    "launch",
    "delivery",
    "online",
    "city",
    "open",
    "close",
    "good",
    "bad",
    "great",
    "terrible",
    "love",
    "hate",
    "the",
    "a",
    "of",
    "to",
    "in",
    "and",
    "for",
    "on",
    "with",
    "is",
    "was",
    "by",
    "from",
    "at",
    "as",
    "it",
    "this",
    "that",
    "we",
    "our",
    "their",
    "eur",
    "million",
    "percent",
]


def build_tiny_model(path: Path, *, num_labels: int = 3, seed: int = 0) -> Path:
    """A random 2-layer BERT with a word-level vocab built from WORDS (trains in a second on one thread)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[f"w{i}" for i in range(40)]]
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=128)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT base model folder (for train tests: ``--base`` points here)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))
