"""The Space: launched locally on 127.0.0.1, driven with gradio_client, and screenshotted in headless Chromium."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_publish import _spec, make_student

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from sxhub.space import launch_space

    model = make_student(tmp_path / "student", _spec())
    demo, url = launch_space(model, host="127.0.0.1", block=False)
    try:
        yield url, model
    finally:
        demo.close()


def test_single_prediction_and_csv_round_trip(served: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    url, _ = served
    client = Client(url, verbose=False)
    probs, decision = client.predict("profit rose strong growth", api_name="/predict")
    names = {c["label"] for c in probs["confidences"]}
    assert names == {"positive", "neutral", "negative"}
    assert sum(c["confidence"] for c in probs["confidences"]) == pytest.approx(1.0, abs=1e-4)
    assert probs["label"] in decision

    upload = tmp_path / "texts.csv"
    upload.write_text("id,text\n1,profit rose\n2,shares fell loss\n3,new store open\n", encoding="utf-8")
    result: Any = client.predict(handle_file(str(upload)), api_name="/label_csv")
    with open(result, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert all(r["label"] in names for r in rows)
    assert {"prob_positive", "prob_neutral", "prob_negative"} <= set(rows[0])


@pytest.mark.browser
def test_page_renders_in_headless_chromium(served: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("/usr/bin/chromium not installed: apt-get install -y chromium")
    from PIL import Image

    url, _ = served
    png = tmp_path / "space.png"
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}",
        f"--screenshot={png}",
        "--window-size=1200,900",
        "--virtual-time-budget=8000",
        url,
    ]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert image.size == (1200, 900)
    assert len(colours) > 50, f"the screenshot looks blank ({len(colours)} colours)"
