"""``sxhub -q``: "Only errors on stderr, no progress bars". Logging went to ERROR under -q, but the verbs printed their
summaries and status lines with ``click.echo(..., err=True)`` whatever -q said: ``sxhub -q annotate`` still wrote
"labelled 4/4 texts, ..." (agree "wrote the N most split texts", doubts its summary, generate the seed twins it left
out, predict -o - its speed, endpoint status and delete their lines, review where decisions go, AutoTrain its whole
log), and a cron job that wanted silence on success got lines every run. Each verb runs in a process of its own, as a
user runs it: tqdm, transformers and logging read their switches once, at import or first use."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_tiny_model, require_modules, run_cli, twins_shaped
from fake_openai_server import Answer, Fail, FakeOpenAIServer
from test_synth import server_responder, write_task
from test_train import single_frame

TEXTS = "text,gold\nprofit rose,positive\nsales fell,negative\nrecord growth,positive\nloss widened,negative\n"


def sxhub(
    argv: list[str], *, quiet: bool, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``sxhub [-q] ARGV`` in a new process, with tqdm's and transformers' switches as a user's shell has them."""
    clean = {k: v for k, v in os.environ.items() if k not in {"TQDM_DISABLE", "TRANSFORMERS_VERBOSITY"}}
    return subprocess.run(
        [sys.executable, "-m", "sxhub", *(["-q"] if quiet else []), *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **(env or {})},
        check=False,
    )


def fake_autotrain(root: Path, model: Path) -> dict[str, str]:
    """A venv-shaped folder whose bin/python3 (which runs AutoTrain's trainer) logs a line and "trains" by copying
    ``model`` (AutoTrain's layout)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    config.id2label = dict(enumerate(sorted(["positive", "neutral", "negative"])))  # AutoTrain sorts the labels
    config.label2id = {name: i for i, name in config.id2label.items()}
    config.save_pretrained(model)
    venv = root / "fake-venv"
    (venv / "lib" / "python3.11" / "site-packages" / "autotrain_advanced-0.8.36.dist-info").mkdir(parents=True)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "autotrain").write_text("#!/bin/sh\nexit 99\n")
    (venv / "bin" / "python3").write_text(
        f'#!/bin/sh\necho "INFO | autotrain training"\ncp -r "{model}" autotrain-project\n'
    )
    for name in ("autotrain", "python3"):
        script = venv / "bin" / name
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"SXHUB_AUTOTRAIN_ENV": str(root / "fake-venv")}


def annotate(tmp: Path, url: str) -> tuple[list[str], dict[str, str]]:
    (tmp / "in.csv").write_text(TEXTS)
    return ["annotate", str(write_task(tmp, url)), "in.csv", "-o", "out.csv", "--keep-column", "gold"], {}


def agree(tmp: Path, url: str) -> tuple[list[str], dict[str, str]]:
    frame = pd.read_csv(io.StringIO(TEXTS)).assign(label="positive", agreement=[1.0, 0.5, 1.0, 0.6])
    frame.to_csv(tmp / "labelled.csv", index=False)
    return ["agree", "labelled.csv", "--gold", "gold", "--review", "split.csv", "--top", "2"], {}


def doubts(tmp: Path, url: str) -> tuple[list[str], dict[str, str]]:
    single_frame(30).to_csv(tmp / "labelled.csv", index=False)
    model = build_tiny_model(tmp / "encoder")
    return ["doubts", "labelled.csv", "-o", "queue.csv", "--folds", "3", "--model", str(model)], {}


def generate(tmp: Path, url: str) -> tuple[list[str], dict[str, str]]:
    seeds = twins_shaped(tmp / "seeds.csv", n_ok=1)  # its twins that failed a check are left out: a warning
    return [
        "generate",
        str(write_task(tmp, url)),
        "-o",
        "gen.csv",
        "--n",
        "2",
        "--seed-examples",
        str(seeds),
        "--min-distance",
        "0",
    ], {}


def predict(tmp: Path, url: str) -> tuple[list[str], dict[str, str]]:
    (tmp / "in.txt").write_text("profit rose\nsales fell\n")
    return ["predict", str(build_tiny_model(tmp / "student")), "in.txt", "-o", "-"], {}


def train_autotrain(tmp: Path, url: str) -> tuple[list[str], dict[str, str]]:
    (tmp / "task.yaml").write_text("name: fin\nlabels: [positive, neutral, negative]\n")
    single_frame(30).to_csv(tmp / "labelled.csv", index=False)
    base = build_tiny_model(tmp / "base")
    env = fake_autotrain(tmp, build_tiny_model(tmp / "trained", seed=1))
    argv = ["train", "task.yaml", "labelled.csv", "-o", "m", "--base", str(base), "--backend", "autotrain"]
    return [*argv, "--epochs", "1", "--json"], env


# verb: how to run it, and a line its loud run writes on stderr that -q must hold back
CASES: dict[str, tuple[Callable[[Path, str], tuple[list[str], dict[str, str]]], str]] = {
    "annotate": (annotate, "labelled 4/4 texts, 0 failed"),
    "agree": (agree, "wrote the 2 most split texts to split.csv"),
    "doubts": (doubts, "texts are doubtful"),
    "generate": (generate, "twin(s) that failed a check of sxhub twins (ok false; see 'flags') left out"),
    "predict": (predict, "Labelled 2 texts"),
    "train-autotrain": (train_autotrain, "INFO | autotrain training"),
}


@pytest.mark.parametrize("verb", list(CASES))
def test_a_quiet_run_that_succeeds_leaves_stderr_empty(verb: str, tmp_path: Path) -> None:
    make, loud_line = CASES[verb]
    with FakeOpenAIServer(server_responder) as server:
        for quiet in (False, True):
            where = tmp_path / ("quiet" if quiet else "loud")
            where.mkdir()
            argv, env = make(where, server.url)
            done = sxhub(argv, quiet=quiet, cwd=where, env=env)
            assert done.returncode == 0, done.stderr
            if quiet:
                assert done.stderr == "", done.stderr
            else:
                assert loud_line in done.stderr, done.stderr


def test_quiet_annotate_with_texts_that_failed_is_silent_and_says_so_in_json(tmp_path: Path) -> None:
    """Some texts failed and the run exits 0 (annotate exits 1 only when none got a label): under -q the summary
    that counted them is held back like every warning, and --json (and the ledger beside OUT) still counts them."""

    def one_fails(body: dict, n: int) -> Answer | Fail:
        return Fail(400) if "sales fell" in json.dumps(body) else Answer('{"label": "positive"}')

    with FakeOpenAIServer(one_fails) as server:
        argv, _ = annotate(tmp_path, server.url)
        done = sxhub([*argv, "--samples", "1", "--json"], quiet=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    ledger = json.loads(done.stdout)
    assert (ledger["n_texts"], ledger["failed_texts"]) == (4, 1)
    assert pd.read_csv(tmp_path / "out.csv")["failed"].sum() == 1


def test_a_quiet_run_that_fails_writes_only_its_error_line(tmp_path: Path) -> None:
    """Every text failed (exit 1): the summary came before the error line, under -q too; now only the error."""
    runs = {}
    for quiet in (False, True):
        where = tmp_path / ("quiet" if quiet else "loud")
        where.mkdir()
        with FakeOpenAIServer(lambda body, n: Fail(400)) as server:
            argv, _ = annotate(where, server.url)
            (where / "in.csv").write_text(TEXTS[: TEXTS.index("record")])  # two texts (3 refusals stop the run)
            runs[quiet] = sxhub([*argv, "--samples", "1"], quiet=quiet, cwd=where)
    loud, quiet = runs[False], runs[True]
    assert loud.returncode == quiet.returncode == 1
    error = quiet.stderr.strip()
    assert error.startswith("Error: every text failed (2 of 2)") and "\n" not in error, quiet.stderr
    assert "labelled 0/2 texts, 2 failed" in loud.stderr, loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("Error: every text failed (2 of 2)")


def test_quiet_endpoint_status_and_delete_print_only_the_url(
    hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """endpoint status wrote "NAME: running, MODEL on HARDWARE (...)" on stderr and delete "deleted endpoint NAME",
    -q or not. In this process: the Hub stand-in's endpoints API is reached by patching huggingface_hub."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", hub.stub.endpoints_url)
    monkeypatch.setenv("SXHUB_ENDPOINT_REFRESH", "0.05")
    monkeypatch.setenv("TQDM_DISABLE", "0")  # -q sets these in os.environ: restored after the test
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "warning")
    hub.stub.endpoints.serve_url = "http://127.0.0.1:9"
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", "fin-teacher", "--no-wait"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["endpoint", "status", "fin-teacher"], capsys)
    assert code == 0 and err.startswith("fin-teacher: "), err
    code, out, err = run_cli(["-q", "endpoint", "status", "fin-teacher"], capsys)
    assert code == 0 and err == "", err
    code, out, err = run_cli(["-q", "endpoint", "delete", "fin-teacher", "--yes"], capsys)
    assert code == 0 and err == "" and out == "", err
    code, out, err = run_cli(["-q", "endpoint", "delete", "fin-teacher", "--yes"], capsys)
    assert code == 2 and out == "" and err.startswith("Error: no Inference Endpoint named") and err.count("\n") == 1


def test_quiet_in_process_switches_bars_and_transformers_back_when_main_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main(["-q", ...])`` set TQDM_DISABLE=1 and TRANSFORMERS_VERBOSITY=error in os.environ (and transformers'
    level to error) and left them: every bar and transformers warning of the process after it was off, in the next
    test or a script's second main() without -q. They are as they were once main returns, an error exit too."""
    import logging

    import transformers
    from tqdm import tqdm

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "warning")
    before = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity(logging.INFO)
    try:
        data = tmp_path / "labelled.csv"
        pd.DataFrame({"text": ["up", "down"], "label": ["pos", "neg"], "gold": ["pos", "pos"]}).to_csv(
            data, index=False
        )
        for argv, expected in (
            (["agree", str(data), "--gold", "gold", "--json"], 0),
            (["agree", str(tmp_path / "nope.csv"), "--gold", "gold"], 2),
        ):
            code, out, err = run_cli(["-q", *argv], capsys)
            assert code == expected and (err == "" if code == 0 else "Error" in err), err
            assert code or json.loads(out)["n"] == 2
            assert "TQDM_DISABLE" not in os.environ and os.environ["TRANSFORMERS_VERBOSITY"] == "warning"
            assert transformers.logging.get_verbosity() == logging.INFO
            assert not tqdm(range(2), file=io.StringIO()).disable
    finally:
        transformers.logging.set_verbosity(before)


def test_quiet_in_process_holds_back_the_loading_weights_bar_and_puts_the_bars_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """transformers imported before ``main(["-q", "predict", ...])`` (a notebook, a test) drew its "Loading weights"
    bar on stderr: its tqdm had read TQDM_DISABLE when tqdm was imported, before -q set it. -q turns transformers'
    and huggingface_hub's bars off in-process too, and main puts both switches back when it returns, an error too."""
    import transformers
    from huggingface_hub.utils import are_progress_bars_disabled

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    assert transformers.logging.is_progress_bar_enabled() and not are_progress_bars_disabled()
    model = build_tiny_model(tmp_path / "student")
    (tmp_path / "in.txt").write_text("profit rose\nsales fell\n")
    code, out, err = run_cli(["predict", str(model), str(tmp_path / "in.txt"), "-o", "-"], capsys)
    assert code == 0 and "Loading weights" in err, err  # the bar a loud run draws in this process
    for argv, expected in (([str(tmp_path / "in.txt")], 0), ([str(tmp_path / "nope.txt")], 2)):
        code, out, err = run_cli(["-q", "predict", str(model), *argv, "-o", "-"], capsys)
        assert code == expected and (err == "" if code == 0 else err.startswith("Error: ")), err
        assert code or len(out.splitlines()) == 2  # a JSON line per text
        assert transformers.logging.is_progress_bar_enabled() and not are_progress_bars_disabled()


@pytest.mark.parametrize("verbosity", [None, "info"])
def test_quiet_in_process_leaves_transformers_first_imported_in_it_as_a_fresh_import(
    tmp_path: Path, verbosity: str | None
) -> None:
    """transformers first imported during ``main(["-q", ...])`` read TRANSFORMERS_VERBOSITY=error at its import:
    main put the variable back but its level stayed at error, and the script's own transformers warnings after it
    were lost. Its level and bars are now what a fresh import without -q gives."""
    model = build_tiny_model(tmp_path / "student")
    (tmp_path / "in.txt").write_text("profit rose\nsales fell\n")
    show = "import transformers; print(transformers.logging.get_verbosity(), transformers.logging.is_progress_bar_enabled())"
    script = f"from sxhub.cli import main\nmain(['-q', 'predict', {str(model)!r}, 'in.txt', '-o', 'out.csv'])\n{show}"
    clean = {k: v for k, v in os.environ.items() if k not in {"TQDM_DISABLE", "TRANSFORMERS_VERBOSITY"}}
    env = {**clean, **({"TRANSFORMERS_VERBOSITY": verbosity} if verbosity else {})}
    after, fresh = _after_and_fresh(script, show, env, tmp_path)
    assert after == fresh == [str(20 if verbosity else 30), "True"]


def test_main_in_process_leaves_the_callers_logging_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main([...])`` in a notebook or a script set up logging for the CLI and left it: a root handler from its
    ``basicConfig`` (the caller's own ``basicConfig`` then did nothing), the HTTP libraries' loggers at WARNING, and
    huggingface_hub's level (ERROR after -q) with its propagation off, so the caller saw no Hub warning afterwards.
    All of it is as it was once main returns, after a success and after an error exit."""
    import logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a fresh script's: no handler (pytest's own are put back after)
    monkeypatch.setattr(root, "level", logging.WARNING)
    loggers = {name: logging.getLogger(name) for name in ("huggingface_hub", "httpx2", "urllib3")}
    for lg in loggers.values():
        monkeypatch.setattr(lg, "level", logging.NOTSET)
        monkeypatch.setattr(lg, "propagate", True)
    data = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["up", "down"], "label": ["pos", "neg"], "gold": ["pos", "pos"]}).to_csv(data, index=False)
    for argv, expected in (
        (["-q", "agree", str(data), "--gold", "gold", "--json"], 0),
        (["agree", str(tmp_path / "nope.csv"), "--gold", "gold"], 2),
    ):
        code, _, err = run_cli(argv, capsys)
        assert code == expected, err
        assert root.handlers == [] and root.level == logging.WARNING
        assert all(lg.level == logging.NOTSET and lg.propagate for lg in loggers.values())


def test_quiet_through_clicks_runner_puts_the_bars_and_logging_back(tmp_path: Path) -> None:
    """The group itself puts back what it set up when its context closes: invoked through click's CliRunner (a
    program's tests, or a program that embeds the group), not main(), a -q run left huggingface_hub's and
    transformers' bars off for the rest of the process (test_annotate's runs then failed a later test's start)."""
    import logging

    import transformers
    from click.testing import CliRunner
    from huggingface_hub.utils import are_progress_bars_disabled

    from sxhub.cli import cli

    data = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["up", "down"], "label": ["pos", "neg"], "gold": ["pos", "pos"]}).to_csv(data, index=False)
    hub = logging.getLogger("huggingface_hub")
    before = (transformers.logging.is_progress_bar_enabled(), are_progress_bars_disabled(), hub.level, hub.propagate)
    for argv in (["-q", "agree", str(data), "--gold", "gold", "--json"], ["-q", "agree", str(tmp_path / "no.csv")]):
        CliRunner().invoke(cli, argv)
        after = (
            transformers.logging.is_progress_bar_enabled(),
            are_progress_bars_disabled(),
            hub.level,
            hub.propagate,
        )
        assert after == before and "TQDM_DISABLE" not in os.environ


@pytest.mark.parametrize("variable", [None, "", "1"])
def test_quiet_in_process_leaves_tqdm_first_imported_in_it_as_a_fresh_import(
    tmp_path: Path, variable: str | None
) -> None:
    """tqdm reads TQDM_DISABLE once, at its import, into its bars' default: first imported during
    ``main(["-q", ...])``, it read -q's TQDM_DISABLE=1, and every bar of the script after main returned was off
    though the variable was gone. Its default is now what a fresh import in the script's environment gives."""
    pd.DataFrame({"text": ["up", "down"], "label": ["pos", "neg"], "gold": ["pos", "pos"]}).to_csv(
        tmp_path / "labelled.csv", index=False
    )
    show = "import io, os, sys, tqdm; print(tqdm.tqdm(range(2), file=io.StringIO()).disable, 'TQDM_DISABLE' in os.environ)"
    script = (
        "import sys\nfrom sxhub.cli import main\nassert 'tqdm' not in sys.modules\n"
        "main(['-q', 'agree', 'labelled.csv', '--gold', 'gold', '--json'])\n"
        f"assert 'tqdm' in sys.modules  # imported during the command\n{show}"
    )
    clean = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    env = {**clean, **({"TQDM_DISABLE": variable} if variable is not None else {})}
    after, fresh = _after_and_fresh(script, show, env, tmp_path)
    assert after == fresh == [str(bool(variable)), str(variable is not None)]


def test_quiet_predict_on_ray_puts_ray_datas_settings_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``predict --engine ray`` sets Ray Data's settings for every Dataset the process creates after (rows in input
    order; progress bars off under -q) and left them: a notebook's own Datasets after ``main(["-q", "predict", ...,
    "--engine", "ray"])`` kept its order and drew no bars. They are as they were once the command ends, a stop too.
    No cluster here: the process counts as already connected, and the read is stopped by Ctrl-C."""
    require_modules("ray", install='pip install "sxhub[ray]"')
    import ray.data

    import sxhub.ray_predict

    def ctrl_c(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sxhub.ray_predict, "connect", lambda *_, **__: False)
    monkeypatch.setattr(sxhub.ray_predict, "_read", ctrl_c)
    context = ray.data.DataContext.get_current()
    settings = ("preserve_order", "enable_progress_bars", "raise_original_map_exception")

    def read() -> tuple[bool, ...]:
        return tuple(getattr(context.execution_options if n == "preserve_order" else context, n) for n in settings)

    before = read()
    (tmp_path / "in.txt").write_text("profit rose\nsales fell\n")
    model = build_tiny_model(tmp_path / "student")
    capsys.readouterr()  # the model's own saving bar
    argv = ["-q", "predict", str(model), str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.parquet")]
    code, _, err = run_cli([*argv, "--engine", "ray"], capsys)
    assert code == 130 and err.strip().startswith("Interrupted"), err
    assert ray.data.DataContext.get_current() is context
    assert read() == before == (False, True, False)


def test_a_failed_ray_init_puts_the_sigterm_handler_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ray.init`` sets a SIGTERM handler of its own, which exits with 1. connect puts the caller's back once Ray is
    up; when ``ray.init`` failed after setting it, Ray's stayed, and a later SIGTERM ended the CLI with exit 1 and
    no tidy-up instead of 143. It is put back on a failure too."""
    import signal

    require_modules("ray", install='pip install "sxhub[ray]"')
    import ray

    from sxhub import distributed

    def ours(*_: object) -> None: ...

    def rays(*_: object) -> None: ...

    def failing_init(**_: object) -> None:
        signal.signal(signal.SIGTERM, rays)
        raise RuntimeError("the raylet failed to start")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", failing_init)
    previous = signal.signal(signal.SIGTERM, ours)
    try:
        with pytest.raises(distributed.RayError, match=r"could not (start a local Ray|join the Ray cluster)"):
            distributed.connect(None)
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, previous)


def _after_and_fresh(script: str, show: str, env: dict[str, str], cwd: Path) -> tuple[list[str], list[str]]:
    """The last two words ``show`` prints after ``script`` ran in-process, and in a fresh process."""
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, check=False)
        for code in (script, show)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    after, fresh = (run.stdout.split()[-2:] for run in runs)
    return after, fresh
