"""The last encoder layer for the first token only (sxhub.cls_only): the same logits as transformers' own forward for
BERT and RoBERTa classifiers, with padding, in fp32 and under bf16 autocast; other models keep the full forward."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_predict import TEXTS

from sxhub.cls_only import ClsOnly, cls_only_reason
from sxhub.predict import Predictor


def tiny(kind: str, attn: str = "eager", vocab: int = 60, **config: object) -> torch.nn.Module:
    """A random 3-layer classifier of ``kind`` (bert, roberta, distilbert), built from its config: no download."""
    import transformers

    common = dict(vocab_size=vocab, max_position_embeddings=40, num_labels=3, attn_implementation=attn)
    torch.manual_seed(0)
    if kind == "distilbert":
        cfg = transformers.DistilBertConfig(dim=32, n_layers=3, n_heads=2, hidden_dim=64, **common)
        return transformers.DistilBertForSequenceClassification(cfg).eval()
    names = {"bert": "Bert", "roberta": "Roberta"}[kind]
    cfg = getattr(transformers, f"{names}Config")(
        hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, pad_token_id=1,
        **common, **config,
    )  # fmt: skip
    return getattr(transformers, f"{names}ForSequenceClassification")(cfg).eval()


def padded_batch(kind: str) -> dict[str, torch.Tensor]:
    """Five rows of different lengths, right-padded, as a tokenizer pads them."""
    gen = torch.Generator().manual_seed(1)
    lengths = [3, 9, 17, 5, 17]
    ids = torch.full((len(lengths), max(lengths)), 1, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(4, 60, (n,), generator=gen)
        ids[row, 0] = 0  # the first token: [CLS] / <s>
        mask[row, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if kind == "bert":
        batch["token_type_ids"] = torch.zeros_like(ids)
    return batch


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_the_same_logits_as_the_full_forward(kind: str, attn: str) -> None:
    model = tiny(kind, attn)
    batch = padded_batch(kind)
    assert cls_only_reason(model) is None
    with torch.inference_mode():
        full = model(**batch).logits
        first = ClsOnly(model)(**batch)
        # padding a row further changes nothing: the padded keys are masked in the last layer too
        longer = {k: torch.nn.functional.pad(v, (0, 6), value=1 if k == "input_ids" else 0) for k, v in batch.items()}
        padded = ClsOnly(model)(**longer)
    assert first.shape == full.shape == (5, 3)
    torch.testing.assert_close(first, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded, full, atol=1e-5, rtol=1e-5)


def test_the_same_logits_under_bf16_autocast() -> None:
    model = tiny("bert", "sdpa")
    batch = padded_batch("bert")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        full = model(**batch).logits.float()
        first = ClsOnly(model)(**batch).float()
    torch.testing.assert_close(first, full, atol=2e-2, rtol=2e-2)


def test_other_models_say_why_they_keep_the_full_forward() -> None:
    assert "DistilBertForSequenceClassification" in (cls_only_reason(tiny("distilbert")) or "")
    assert "relative" in (cls_only_reason(tiny("bert", position_embedding_type="relative_key")) or "")
    with pytest.raises(ValueError, match="cannot serve"):
        ClsOnly(tiny("distilbert"))


def test_predictor_runs_it_and_keeps_transformers_forward_on_request(tiny_base_model: Path) -> None:
    fast, plain = Predictor(tiny_base_model), Predictor(tiny_base_model, cls_only=False)
    assert fast._cls_only is not None and plain._cls_only is None
    np.testing.assert_allclose(fast.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-5)


def test_predictor_falls_back_for_other_models(tmp_path: Path, tiny_base_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    model = tiny("distilbert", vocab=len(tokenizer))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    predictor = Predictor(tmp_path)
    assert predictor._cls_only is None
    assert predictor.predict_proba(["profit rose"]).shape == (1, 3)
