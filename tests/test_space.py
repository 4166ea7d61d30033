"""The Space: launched locally on 127.0.0.1, driven with gradio_client, and screenshotted in headless Chromium."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import missing_component
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
        missing_component("/usr/bin/chromium not installed: apt-get install -y chromium (or make chromium)")
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


@pytest.mark.slow
def test_sxhub_space_command_serves_the_app(tmp_path: Path) -> None:
    """``sxhub space MODEL --port P`` prints the URL and serves the same app a published Space runs."""
    import os
    import socket
    import sys
    import time

    from gradio_client import Client

    model = make_student(tmp_path / "student", _spec())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "sxhub", "space", str(model), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "sxhub space exited early"
            try:
                client = Client(url, verbose=False)
                break
            except Exception:  # not up yet: gradio_client raises several types while the server starts
                assert time.monotonic() < deadline, "sxhub space did not come up in 90 s"
                time.sleep(1)
        probs, _ = client.predict("shares fell loss", api_name="/predict")
        assert {c["label"] for c in probs["confidences"]} == {"positive", "neutral", "negative"}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert url in out
