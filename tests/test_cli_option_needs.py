"""An option that means something only with another option is refused when given without it, before any work.

``--workers 8`` without ``--engine ray`` (and a dozen others like it) was ignored without a word: the user believed
eight workers had run. Each such option now stops the command with one usage error line naming both options, exit 2,
nothing written. With its partner the same option passes this check (the command may fail later for another
reason: most of these command lines point at a missing input so that nothing runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
TASK = str(ROOT / "examples" / "financial-sentiment" / "task.yaml")
TEACHER = ["--teacher", "http://127.0.0.1:9/v1"]


@dataclass(frozen=True)
class Case:
    """``alone``: the command line with the option but not its partner; ``error``: the one line it gets;
    ``paired``: the same option with its partner. ``{f}`` is a labelled file, ``{o}`` an output path, ``{m}`` a
    path that does not exist (the paired command fails on it, after this check)."""

    id: str
    alone: list[str]
    error: str
    paired: list[str]


CASES = [
    Case(
        "annotate --address",
        ["annotate", TASK, "{f}", "-o", "{o}/out.csv", "--address", "127.0.0.1:1", *TEACHER],
        "--address only applies with --engine ray; add --engine ray, or drop --address.",
        ["annotate", TASK, "{m}", "-o", "{o}/out.csv", "--address", "127.0.0.1:1", "--engine", "ray", *TEACHER],
    ),
    Case(
        "annotate --shards",
        ["annotate", TASK, "{f}", "-o", "{o}/out.csv", "--shards", "16", *TEACHER],  # the default, given: refused
        "--shards only applies with --engine ray; add --engine ray, or drop --shards.",
        ["annotate", TASK, "{m}", "-o", "{o}/out.csv", "--shards", "4", "--engine", "ray", *TEACHER],
    ),
    Case(
        "predict --workers",
        ["predict", "{o}/model", "{f}", "-o", "{o}/out.csv", "--workers", "8"],
        "--workers only applies with --engine ray; add --engine ray, or drop --workers.",
        ["predict", "{o}/model", "{m}", "-o", "{o}/out.parquet", "--workers", "8", "--engine", "ray"],
    ),
    Case(
        "predict --address",
        ["predict", "{o}/model", "{f}", "-o", "{o}/out.csv", "--address", "127.0.0.1:1"],
        "--address only applies with --engine ray; add --engine ray, or drop --address.",
        ["predict", "{o}/model", "{m}", "-o", "{o}/out.parquet", "--address", "127.0.0.1:1", "--engine", "ray"],
    ),
    Case(
        "train --search-minutes",
        ["train", TASK, "{f}", "-o", "{o}/model", "--search-minutes", "30"],
        "--search-minutes only applies with --search N; add --search N, or drop --search-minutes.",
        ["train", TASK, "{m}", "-o", "{o}/model", "--search-minutes", "30", "--search", "4"],
    ),
    Case(
        "train --distill-temperature",
        ["train", TASK, "{f}", "-o", "{o}/model", "--distill-temperature", "2"],
        "--distill-temperature only applies with --distill; add --distill, or drop --distill-temperature.",
        ["train", TASK, "{m}", "-o", "{o}/model", "--distill-temperature", "2", "--distill", "{o}/full"],
    ),
    Case(
        "train --distill-weight",
        ["train", TASK, "{f}", "-o", "{o}/model", "--distill-weight", "0.7"],
        "--distill-weight only applies with --distill; add --distill, or drop --distill-weight.",
        ["train", TASK, "{m}", "-o", "{o}/model", "--distill-weight", "0.7", "--distill", "{o}/full"],
    ),
    *[
        Case(
            f"train --backend autotrain {option}",
            ["train", TASK, "{f}", "-o", "{o}/model", "--backend", "autotrain", option, *value],
            f"{option} only applies with --backend local ({why}); drop {option}, or train with --backend local.",
            ["train", TASK, "{m}", "-o", "{o}/model", "--backend", "local", option, *value],
        )
        for option, value, why in [
            ("--no-class-weights", [], "AutoTrain's loss has no class weights"),
            ("--min-steps", ["100"], "AutoTrain does not raise the epochs on small sets"),
            ("--threads", ["1"], "AutoTrain trains in a process of its own"),
            ("--resumable-after", ["0"], "AutoTrain keeps no checkpoint in -o to resume from"),
        ]
    ],
    Case(
        "train --search --resumable-after",
        ["train", TASK, "{f}", "-o", "{o}/model", "--resumable-after", "0", "--search", "2"],
        "--resumable-after only applies to one training (--search trains its trials anew and keeps no checkpoint of "
        "them); drop --resumable-after, or --search.",
        ["train", TASK, "{m}", "-o", "{o}/model", "--resumable-after", "0"],
    ),
    Case(
        "run --backend autotrain --resumable-after",
        ["run", TASK, "{f}", "--out", "{o}/run", "--backend", "autotrain", "--resumable-after", "5", *TEACHER],
        "--resumable-after only applies with --backend local (AutoTrain keeps no checkpoint to continue); drop "
        "--resumable-after, or train with --backend local.",
        ["run", TASK, "{m}", "--out", "{o}/run", "--resumable-after", "5", *TEACHER],
    ),
    *[
        Case(
            f"publish {target} {option}",
            ["publish", target, "{o}/student", "--to", "{o}/repo", option, value],
            f"{option} only applies to publish {' or '.join(targets)}, not publish {target}; drop {option}.",
            ["publish", targets[0], "{m}", "--to", "{o}/repo", option, value]
            + (["--task", TASK] if targets[0] == "dataset" and option != "--task" else []),
        )
        for target, option, value, targets in [
            ("model", "--task", TASK, ("dataset", "review")),
            ("generator", "--task", TASK, ("dataset", "review")),
            ("generator", "--gold", "expert", ("dataset", "model", "space")),
            ("generator", "--ledger", "{f}", ("dataset", "model")),
            ("dataset", "--data", "{f}", ("model", "space")),
            ("dataset", "--evaluation", "{f}", ("model", "space")),
            ("review", "--benchmark", "{f}", ("model", "space")),
            ("dataset", "--dataset-repo", "me/ds", ("model", "space", "review")),
            ("space", "--dataset-revision", "abc123", ("model",)),
            ("model", "--queue", "{f}", ("review",)),
            ("model", "--model-repo", "me/m", ("space",)),
            ("review", "--seed", "42", ("dataset", "model", "space")),  # the default, given
            ("generator", "--test-size", "0.2", ("dataset", "model", "space")),
        ]
    ],
    *[
        Case(
            f"publish {target} {option} without --data",
            ["publish", target, "{o}/student", "--to", "{o}/repo", option, value],
            f"{option} only applies to publish {target} with --data (the student is scored on the test split of "
            f"--data); add --data, or drop {option}.",
            # (publish space reads --data only for a model folder: {o} is a folder, though not a model's)
            [
                "publish",
                target,
                "{m}" if target == "model" else "{o}",
                "--to",
                "{o}/repo",
                option,
                value,
                "--data",
                "{f}",
            ]
            + (["--gold", "expert"] if target == "space" and option != "--gold" else []),  # a Space scores by --gold
        )
        for target in ("model", "space")
        for option, value in [("--gold", "expert"), ("--seed", "7"), ("--test-size", "0.2")]
    ],
    Case(
        "publish space --data with a Hub model",
        ["publish", "space", "me/model", "--to", "{o}/repo", "--data", "{f}"],
        "--data only applies to publish space with a model folder as SOURCE (a Hub model id records no task to "
        "pick examples by); pass the model folder, or drop --data.",
        ["publish", "space", "{o}", "--to", "{o}/repo", "--data", "{f}"],  # a folder, but not a model's
    ),
    *[
        Case(
            f"publish space {option} without --gold",
            ["publish", "space", "{o}", "--to", "{o}/repo", "--data", "{f}", option, value],
            f"{option} only applies to publish space with --gold (the student is scored on the test split of --data "
            f"against it); add --gold COLUMN, or drop {option}.",
            ["publish", "space", "{o}", "--to", "{o}/repo", "--data", "{f}", option, value, "--gold", "expert"],
        )
        for option, value in [("--seed", "7"), ("--test-size", "0.2")]
    ],
    Case(
        "publish space --gold with --evaluation",
        ["publish", "space", "{o}", "--to", "{o}/repo", "--data", "{f}", "--gold", "expert", "--evaluation", "{f}"],
        "--gold only applies without --evaluation (with --evaluation, the Space shows the given figures); drop "
        "--gold, or drop --evaluation.",
        ["publish", "space", "{o}", "--to", "{o}/repo", "--data", "{f}", "--gold", "expert"],
    ),
    Case(
        "publish model --evaluation with --data",
        ["publish", "model", "{o}/student", "--to", "{o}/repo", "--evaluation", "{f}", "--data", "{f}"],
        "--evaluation only applies without --data (with --data, publish model scores the student on --data itself); "
        "drop --evaluation, or drop --data.",
        ["publish", "model", "{m}", "--to", "{o}/repo", "--evaluation", "{f}"],
    ),
    *[
        Case(
            f"publish --to {option}",
            ["publish", "dataset", "{f}", "--task", TASK, "--to", "{o}/repo", option, *value],
            f"{option} only applies when pushing to the Hub (--repo-id without --to); drop --to to push, or drop "
            f"{option}.",
            ["publish", "model", "{m}", "--repo-id", "me/m", option, *value],
        )
        for option, value in [("--private", []), ("--revision", ["dev"]), ("--token", ["hf_x"])]
    ],
    Case(
        "predict --no-recheck",
        ["predict", "{o}/model", "{f}", "-o", "{o}/out.csv", "--onnx", "--no-recheck"],
        "--no-recheck only applies with --int8; add --int8, or drop --no-recheck.",
        ["predict", "{o}/model", "{m}", "-o", "{o}/out.csv", "--onnx", "--no-recheck", "--int8"],
    ),
    Case(
        "export --quantization",
        ["export", "{o}/model", "--quantization", "auto"],  # the default, given
        "--quantization only applies with --int8; add --int8, or drop --quantization.",
        ["export", "{o}/model", "--quantization", "smooth", "--int8"],
    ),
    Case(
        "export --check-n",
        ["export", "{o}/model", "--check-n", "500"],
        "--check-n only applies with --data; add --data, or drop --check-n.",
        ["export", "{o}/model", "--check-n", "500", "--data", "{f}"],
    ),
    Case(
        "export --text-column",
        ["export", "{o}/model", "--text-column", "text"],
        "--text-column only applies with --data; add --data, or drop --text-column.",
        ["export", "{o}/model", "--text-column", "text", "--data", "{f}"],
    ),
    Case(
        "annotate --pause-after",
        ["annotate", TASK, "{f}", "-o", "{o}/out.csv", "--pause-after", *TEACHER],
        "--pause-after only applies with an Inference Endpoint teacher (--teacher endpoint:NAME, or endpoint: NAME "
        "in the task spec); name one, or drop --pause-after.",
        ["annotate", TASK, "{m}", "-o", "{o}/out.csv", "--pause-after", "--teacher", "endpoint:fin-teacher"],
    ),
    Case(
        "run --pause-after",
        ["run", TASK, "{f}", "--out", "{o}/run", "--pause-after", *TEACHER],
        "--pause-after only applies with an Inference Endpoint teacher (--teacher endpoint:NAME, or endpoint: NAME "
        "in the task spec); name one, or drop --pause-after.",
        ["run", TASK, "{m}", "--out", "{o}/run", "--pause-after", "--teacher", "endpoint:fin-teacher"],
    ),
    Case(
        "generate --pause-after",
        ["generate", TASK, "-o", "{o}/gen.csv", "--n", "2", "--pause-after", *TEACHER],
        "--pause-after only applies with an Inference Endpoint teacher (--teacher endpoint:NAME, or endpoint: NAME "
        "in the task spec); name one, or drop --pause-after.",
        # a writer's endpoint counts too; the bad output name fails after the check
        ["generate", TASK, "-o", "{o}/gen.txt", "--n", "2", "--pause-after", *TEACHER, "--writer", "endpoint:w"],
    ),
    Case(
        "twins --pause-after",
        ["twins", TASK, "{f}", "-o", "{o}/twins.csv", "--pause-after", *TEACHER],
        "--pause-after only applies with an Inference Endpoint teacher (--teacher endpoint:NAME, or endpoint: NAME "
        "in the task spec); name one, or drop --pause-after.",
        ["twins", TASK, "{f}", "-o", "{o}/twins.txt", "--pause-after", "--teacher", "endpoint:fin-teacher"],
    ),
    Case(
        "run --private",
        ["run", TASK, "{f}", "--out", "{o}/run", "--private", *TEACHER],
        "--private only applies with --push NAMESPACE; add --push NAMESPACE, or drop --private.",
        ["run", TASK, "{m}", "--out", "{o}/run", "--private", "--push", "me", *TEACHER],
    ),
    Case(
        "annotate --split of a file",
        ["annotate", TASK, "{f}", "-o", "{o}/out.csv", "--split", "test", *TEACHER],
        "--split only applies to a Hub dataset INPUT (user/name); drop --split.",
        ["annotate", TASK, "me/texts", "--split", "test", *TEACHER],  # no -o: refused before the Hub is asked
    ),
    Case(
        "annotate --split with INPUT:split",
        ["annotate", TASK, "me/texts:validation", "-o", "{o}/out.csv", "--split", "test", *TEACHER],
        "--split only applies when INPUT names no split (it ends in :validation); drop --split, or :validation "
        "from INPUT.",
        ["annotate", TASK, "me/texts", "--split", "validation", *TEACHER],
    ),
    Case(
        "agree --top",
        ["agree", "{f}", "--gold", "expert", "--top", "5"],
        "--top only applies with --review; add --review, or drop --top.",
        ["agree", "{m}", "--gold", "expert", "--top", "5", "--review", "{o}/split.csv"],
    ),
    Case(
        "doubts --top --json",
        ["doubts", "{f}", "-o", "{o}/queue.csv", "--top", "3", "--json"],
        "--top only applies without --json (it sets the rows of the printed report); drop --json, or drop --top.",
        ["doubts", "{m}", "-o", "{o}/queue.csv", "--top", "3"],
    ),
    Case(
        "insights --freq",
        ["insights", "{o}", "{f}", "--group-by", "expert", "-o", "{o}/insights", "--freq", "Q"],
        "--freq only applies with --date-column; add --date-column, or drop --freq.",
        ["insights", "{o}", "{m}", "--group-by", "expert", "-o", "{o}/insights", "--freq", "Q", "--date-column", "d"],
    ),
    Case(
        "insights --dayfirst",
        ["insights", "{o}", "{f}", "--group-by", "expert", "-o", "{o}/insights", "--dayfirst"],
        "--dayfirst only applies with --date-column; add --date-column, or drop --dayfirst.",
        ["insights", "{o}", "{m}", "--group-by", "expert", "-o", "{o}/insights", "--dayfirst", "--date-column", "d"],
    ),
    Case(
        "endpoint up --timeout --no-wait",
        ["endpoint", "up", "me/model", "--timeout", "600", "--no-wait"],
        "--timeout only applies without --no-wait (it is how long to wait until the endpoint runs); drop --no-wait, "
        "or drop --timeout.",
        ["endpoint", "up", "me/model", "--timeout", "600"],
    ),
    Case(
        "endpoint up --scale-to-zero-after",
        ["endpoint", "up", "me/model", "--scale-to-zero-after", "30", "--min-replicas", "1"],
        "--scale-to-zero-after only applies with --min-replicas 0 (an endpoint that keeps replicas never scales to "
        "zero); drop --scale-to-zero-after, or pass --min-replicas 0.",
        ["endpoint", "up", "me/model", "--scale-to-zero-after", "30", "--min-replicas", "0"],
    ),
    Case(
        "apply-review --token with a decisions file",
        ["apply-review", "{f}", "{f}", "-o", "{o}/reviewed.csv", "--token", "hf_x"],
        "--token only applies when DECISIONS is a dataset repo (NAMESPACE/NAME), not a file or folder here; drop "
        "--token.",
        ["apply-review", "{f}", "me/decisions", "--token", "hf_x"],  # no -o: refused before the Hub is asked
    ),
]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    labelled = tmp_path / "labelled.csv"
    frame = pd.DataFrame({"text": ["Profit rose", "Loss widened"], "label": ["positive", "negative"]})
    frame.assign(expert=frame["label"]).to_csv(labelled, index=False)
    out = tmp_path / "out"
    out.mkdir()
    return {"f": str(labelled), "o": str(out), "m": str(tmp_path / "missing.csv")}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_an_option_without_its_partner_is_refused_before_any_work(
    tmp_path: Path, paths: dict[str, str], capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    before = _files(tmp_path)
    code, out, err = run_cli([a.format(**paths) for a in case.alone], capsys)
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert code == 2, err
    assert errors == [f"Error: {case.error}"], err
    assert out == ""
    assert _files(tmp_path) == before  # nothing written: no output, no cache, no ledger


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_same_option_with_its_partner_passes_the_check(
    paths: dict[str, str], capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    code, _, err = run_cli([a.format(**paths) for a in case.paired], capsys)
    assert "only applies" not in err, err
    # it fails later on its missing input or model (publish space --model-repo needs no local model: it succeeds)
    assert code == 0 or err.strip().splitlines()[-1].startswith("Error: "), err
