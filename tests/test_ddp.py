"""``sxhub train`` under torchrun and accelerate launch: two CPU processes, the gloo backend, the Trainer's DDP.

The run finishes, the batch is split over both processes, only rank 0 saves (once), the checkpoints are cleaned up,
and the saved folder loads and labels with Predictor and a plain transformers pipeline.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import CUES, SINGLE, single_frame

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launcher(kind: str) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if kind == "torchrun":
        return [str(bin_dir / "torchrun"), "--nproc-per-node", "2", "--master-port", str(free_port()), "-m", "sxhub"]
    # accelerate's --cpu starts one process (it expects mpirun for several); --multi_gpu starts them with torchrun's
    # launcher, and on a machine without a GPU sxhub runs that as CPU DDP over gloo
    return [
        str(bin_dir / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()), "-m", "sxhub",
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["torchrun", "accelerate"])
def test_train_with_two_cpu_processes_saves_once_and_loads(kind: str, tiny_base_model: Path, tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, neutral, negative]\n", encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    single_frame(90).to_csv(labelled, index=False)
    out = tmp_path / "student"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
        "TRANSFORMERS_VERBOSITY": "info",  # the Trainer says how large the distributed batch is
        "HF_HUB_OFFLINE": "1",
    }
    argv = ["-v", "train", str(task), str(labelled), "-o", str(out), "--base", str(tiny_base_model)]
    argv += ["--epochs", "3", "--learning-rate", "3e-3", "--batch-size", "16"]
    argv += ["--json"] if kind == "torchrun" else []
    done = subprocess.run([*launcher(kind), *argv], env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    if kind == "torchrun":  # rank 0 alone reports: stdout is one JSON object
        assert json.loads(done.stdout)["model_dir"] == str(out)
    else:
        assert done.stdout.count(f"Trained {out} (local,") == 1, done.stdout

    assert "Total train batch size (w. parallel, distributed & accumulation) = 32" in log  # 16 on each of 2
    assert log.count("saved the student to") == 1  # rank 0 only
    assert not [p.name for p in out.iterdir() if p.name.startswith(".checkpoints")]
    info = json.loads((out / "sxhub.json").read_text(encoding="utf-8"))
    assert info["train"]["processes"] == 2 and info["labels"] == SINGLE.label_names

    from transformers import pipeline

    from sxhub.predict import Predictor

    texts = [CUES[name] for name in SINGLE.label_names]
    labels, _ = Predictor(out).predict(texts)
    assert labels == SINGLE.label_names
    classify = pipeline("text-classification", model=str(out), device="cpu")
    assert [r["label"] for r in classify(texts)] == SINGLE.label_names
