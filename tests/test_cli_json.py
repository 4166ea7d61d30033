"""``--json``: one valid JSON object on stdout, whatever the figures in it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sxhub.cli import emit_json


def strict_loads(text: str) -> object:
    """json.loads as RFC 8259 reads: NaN and Infinity are not JSON (jq and JavaScript's JSON.parse refuse them)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinity_are_null(capsys: pytest.CaptureFixture[str]) -> None:
    """emit_json wrote with json.dumps' allow_nan=True: a NaN or an infinity among the figures (a Python or numpy
    float, in a dict, a list or an array) came out as NaN/Infinity, which is not JSON, on the stdout that scripts
    parse. They are null now, and anything else that is not finite is an error, never bad output."""
    emit_json(
        {
            "accuracy": float("nan"),
            "texts_per_second": float("inf"),
            "per_label": {"pos": {"f1": np.float64("nan"), "support": np.int64(2)}, "neg": {"f1": np.float32(0.5)}},
            "shares": [1.0, -np.inf],
            "probs": np.array([np.nan, 0.25]),
            "date": pd.NaT,
            "gold": pd.NA,
            "n": 3,
            "note": None,
        }
    )
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert strict_loads(out) == {
        "accuracy": None,
        "texts_per_second": None,
        "per_label": {"pos": {"f1": None, "support": 2}, "neg": {"f1": 0.5}},
        "shares": [1.0, None],
        "probs": [None, 0.25],
        "date": None,
        "gold": None,
        "n": 3,
        "note": None,
    }
