"""``sxhub -q`` turns every progress bar off: tqdm reads ``TQDM_DISABLE`` only as a default, so a bar made with
``disable=False`` stayed on (``sxhub -q generate`` drew its bars); sxhub's bars read the variable themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer
from test_generate_balance import never_negative, write_task

from sxhub.progress import progress_bar
from sxhub.spec import TaskSpec


@pytest.mark.parametrize(
    ("env", "enabled", "off"),
    [(None, True, False), (None, False, True), ("1", True, True), ("0", True, True), ("", True, False)],
)
def test_bars_follow_the_caller_and_tqdm_disable(
    env: str | None, enabled: bool, off: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", env)
    with progress_bar(total=3, enabled=enabled) as bar:
        assert bar.disable is off


@pytest.mark.parametrize("env", ["1", "0", "false", ""])
def test_sxhubs_bars_read_tqdm_disable_as_tqdm_does(env: str) -> None:
    # TQDM_DISABLE=0 drew sxhub's bars while every plain tqdm bar (transformers' loading, datasets' map) was off:
    # tqdm converts the value with bool() when it is imported. In a fresh process, as a user's run reads it.
    code = (
        "from tqdm import tqdm; from sxhub.progress import progress_bar\n"
        "plain = tqdm(total=1); ours = progress_bar(total=1)\n"
        "print(plain.disable, ours.disable); plain.close(); ours.close()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TQDM_DISABLE": env},
        check=True,
    )
    plain, ours = proc.stdout.split()
    assert ours == plain == str(bool(env)), proc.stdout


def test_quiet_generate_draws_no_bar(tmp_path: Path) -> None:
    spec = TaskSpec(name="sentiment", labels=["positive", "negative"], samples=1)
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    with FakeOpenAIServer(never_negative) as server:
        task = write_task(tmp_path, spec, server.url)
        args = ["generate", str(task), "-o", str(tmp_path / "g.csv"), "--n", "4", "--min-distance", "0"]
        runs = {
            name: subprocess.run(
                [sys.executable, "-m", "sxhub", *flags, *args, "--cache-dir", str(tmp_path / name)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            for name, flags in (("loud", []), ("quiet", ["-q"]))
        }
    loud, quiet = runs["loud"], runs["quiet"]
    assert loud.returncode == 0 and quiet.returncode == 0, loud.stderr + quiet.stderr
    assert "%|" in loud.stderr, "without -q the bars are drawn"
    assert "%|" not in quiet.stderr, quiet.stderr


def test_huggingface_hub_warnings_print_once_and_not_under_quiet(tmp_path: Path) -> None:
    """huggingface_hub prints through its own handler and passed every record on to the CLI's as well: each of its
    warnings (a retry, an unreachable Hub) came out twice, and ``-q`` did not hold it back. In a process of its own:
    the Hub's handler keeps the stderr of the moment it was imported. After main returns, the caller's logging is
    its own again: the Hub's warning prints once, as in a process that never ran main."""
    data = tmp_path / "l.csv"
    data.write_text("text,label,gold\na,x,x\nb,y,y\n", encoding="utf-8")
    # the warning is given during the command (as a retry's is), and once more after main returns, where the
    # process's logging is the caller's again (main puts back what the CLI set up): printed once, -q or not
    script = (
        "import sys\n"
        "from huggingface_hub.utils import logging as hub_logging\n"
        "import sxhub.cli.agree as agree\n"
        "from sxhub.cli import main\n"
        "score = agree.score_labelled\n"
        "def warned(*args, **kwargs):\n"
        "    hub_logging.get_logger('huggingface_hub.test').warning('a warning from the Hub client')\n"
        "    return score(*args, **kwargs)\n"
        "agree.score_labelled = warned\n"
        f"main(sys.argv[1:] + ['agree', {str(data)!r}, '--gold', 'gold', '--json'])\n"
        "hub_logging.get_logger('huggingface_hub.test').warning('after: a warning from the Hub client')\n"
    )
    for flags, expected in (([], 1), (["-q"], 0)):
        proc = subprocess.run(
            [sys.executable, "-c", script, *flags], capture_output=True, text=True, check=False, env=dict(os.environ)
        )
        assert proc.returncode == 0, proc.stderr
        during = proc.stderr.replace("after: a warning from the Hub client", "")
        assert during.count("a warning from the Hub client") == expected, (flags, proc.stderr)
        assert proc.stderr.count("after: a warning from the Hub client") == 1, (flags, proc.stderr)


@pytest.mark.parametrize(("env", "off"), [("1", True), ("true", True), ("yes", True), ("0", True), (None, False)])
def test_the_trainers_bar_follows_tqdm_disable_as_sxhubs_bars_do(
    env: str | None, off: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a script or notebook that set TQDM_DISABLE=true had sxhub's bars (and tqdm's) off, but train() still drew
    # Trainer's: TrainingArguments' disable_tqdm was set for the value "1" only
    from sxhub.train_config import TrainConfig

    if env is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", env)
    args = TrainConfig(output_dir=tmp_path / "s").training_arguments(
        tmp_path / "c", multi_label=False, steps_per_epoch=4
    )
    assert args.disable_tqdm is off
    with progress_bar(total=1) as bar:
        assert bar.disable is off
