"""An experiment, not a feature: the 4P tweets' default recipe (``bench/student.py``'s ``fourp``) with the student
reading the mean of its last layer's token vectors instead of ``[CLS]`` through BERT's pooler.

all-MiniLM-L6-v2 was trained by sentence-transformers with mean pooling, so its ``[CLS]`` vector was never trained
as the sentence's; the question was whether that costs the 4P student its last points of micro-F1. Shipping it would
need custom model code (``trust_remote_code``), so it is measured first: this script patches transformers'
``BertModel.forward`` (to keep the attention mask) and ``BertPooler.forward`` (masked mean, no dense layer) in this
process only, and turns off sxhub's first-token last layer. Writes bench/results/fourp_mean_pooling.json.

    .venv/bin/python bench/fourp_mean_pooling.py     # about 7 to 25 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import student
import torch
import transformers.models.bert.modeling_bert as mb

import sxhub.cls_only

_MASK: dict[str, torch.Tensor] = {}
_FORWARD = mb.BertModel.forward


def _forward(self: Any, input_ids: Any = None, attention_mask: Any = None, *args: Any, **kwargs: Any) -> Any:
    """BertModel's forward, keeping the attention mask for the pooler."""
    ref = input_ids if input_ids is not None else kwargs["inputs_embeds"]
    _MASK["m"] = attention_mask if attention_mask is not None else torch.ones(ref.shape[:2], device=ref.device)
    return _FORWARD(self, input_ids, attention_mask, *args, **kwargs)


def _mean_pool(self: Any, hidden_states: torch.Tensor) -> torch.Tensor:
    """The mean of the real tokens' vectors (sentence-transformers' pooling), in place of [CLS] -> dense -> tanh."""
    m = _MASK["m"].to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * m).sum(1) / m.sum(1).clamp(min=1.0)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    mb.BertModel.forward = _forward
    mb.BertPooler.forward = _mean_pool
    sxhub.cls_only.cls_only_reason = lambda model: "mean-pooling experiment"  # the full forward, pooler included
    torch.set_num_threads(student.THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        result = student.fourp(Path(tmp), False, None)
        result["wall_s"] = round(time.time() - start)
    out = student.RESULTS / "fourp_mean_pooling.json"
    out.write_text(json.dumps({"fourp": result, "date": time.strftime("%Y-%m-%d")}, default=str, indent=2) + "\n")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
