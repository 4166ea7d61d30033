"""A sequence classifier whose last encoder layer runs for the first token only: the same logits, less work.

A BERT-style classifier reads one vector from its encoder: the first token's, out of the last layer (BERT's pooler
and RoBERTa's classification head both take ``[:, 0]``). Every other token's last-layer output is computed and
thrown away. In that layer only the keys and values need every token; the query, the attention output projection
and the feed-forward block (two thirds of a layer's multiply-adds) are needed for the first token alone.
:class:`ClsOnly` computes exactly that, with the model's own modules and weights: of a layer's 12·H² multiply-adds
per token (Q, K, V, O and a 4H-wide feed-forward), the last layer keeps 2·H² (K and V), so a 6-layer MiniLM does
about 14% less work per text. The logits are the same function; only float rounding differs.

``sxhub export`` traces it into the ONNX graph (the first layers' attention is still fused by ONNX Runtime's
optimizer) and ``Predictor`` runs it for torch. :func:`cls_only_reason` says why a model cannot take it (another
architecture, relative positions, a decoder); those keep the full forward. It imports torch: the ONNX runtime path
never imports this module.
"""

from __future__ import annotations

from typing import Any

import torch

# the model classes whose layers and heads this module knows: BERT (and MiniLM, which is a BERT) reads the pooler
# (``[:, 0]`` -> dense -> tanh); the RoBERTa family's classification head reads ``features[:, 0, :]`` itself
POOLER_HEADS = ("BertForSequenceClassification",)
FEATURE_HEADS = (
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "CamembertForSequenceClassification",
)


def cls_only_reason(model: Any) -> str | None:
    """None when :class:`ClsOnly` computes ``model``'s logits; else a short reason why it cannot."""
    name = type(model).__name__
    if name not in POOLER_HEADS + FEATURE_HEADS:
        return f"{name} is not a BERT or RoBERTa classifier"
    config = model.config
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "the encoder is configured as a decoder"
    if getattr(config, "position_embedding_type", "absolute") not in (None, "absolute"):
        return f"position_embedding_type {config.position_embedding_type!r} (relative positions)"
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not layers:
        return "no encoder layers"
    attention = getattr(getattr(layers[-1], "attention", None), "self", None)
    if attention is None or not all(hasattr(attention, p) for p in ("query", "key", "value", "attention_head_size")):
        return "an attention module without query, key and value projections"
    if name in POOLER_HEADS and getattr(base, "pooler", None) is None:
        return "no pooler"
    return None


class ClsOnly(torch.nn.Module):
    """``forward(input_ids, attention_mask, token_type_ids=None) -> logits`` of the wrapped classifier.

    The layers before the last run as the model runs them (its own attention implementation and mask); the last
    one computes keys and values for every token and everything else for the first token. It holds the model's
    modules, not copies: weights, dtype and device are the model's.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        reason = cls_only_reason(model)
        if reason is not None:
            raise ValueError(f"ClsOnly cannot serve this model: {reason}")
        self.model = model
        self.pooled = type(model).__name__ in POOLER_HEADS

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        from transformers.masking_utils import create_bidirectional_mask

        base = self.model.base_model
        hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        mask = create_bidirectional_mask(config=base.config, inputs_embeds=hidden, attention_mask=attention_mask)
        *first, last = base.encoder.layer
        for layer in first:
            out = layer(hidden, attention_mask=mask)
            hidden = out[0] if isinstance(out, tuple) else out
        cls = self._last_layer(last, hidden, mask)
        if self.pooled:
            pooled = base.pooler(cls)
            return self.model.classifier(self.model.dropout(pooled))
        return self.model.classifier(cls)

    @staticmethod
    def _last_layer(layer: Any, hidden: Any, mask: Any) -> Any:
        """The last layer's output for the first token, ``(batch, 1, hidden)``."""
        attention = layer.attention.self
        batch, length, _ = hidden.shape
        size = attention.attention_head_size
        first = hidden[:, :1]
        query = attention.query(first).view(batch, 1, -1, size).transpose(1, 2)
        key = attention.key(hidden).view(batch, length, -1, size).transpose(1, 2)
        value = attention.value(hidden).view(batch, length, -1, size).transpose(1, 2)
        scores = torch.matmul(query, key.transpose(2, 3)) * getattr(attention, "scaling", size**-0.5)
        if mask is not None:
            row = mask[:, :, :1, :] if mask.dim() == 4 else mask
            if row.dtype == torch.bool:  # sdpa's mask: True where a token may be attended
                row = torch.zeros_like(row, dtype=scores.dtype).masked_fill(~row, torch.finfo(scores.dtype).min)
            scores = scores + row.to(scores.dtype)
        probs = torch.softmax(scores, dim=-1)
        context = torch.matmul(probs.to(value.dtype), value).transpose(1, 2).reshape(batch, 1, -1)
        attended = layer.attention.output(context, first)
        return layer.output(layer.intermediate(attended), attended)
