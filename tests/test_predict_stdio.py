"""``sxhub predict`` as a shell tool: texts one per line from a .txt file or stdin (``-``), JSON lines on stdout.

``echo "profit rose" | sxhub predict MODEL -`` was ``Error: Missing option '-o'``, with ``-o -`` "is the input file",
and a .txt file was refused for its extension. stdout carries the results only (the summary and progress go to
stderr), an empty line is a text left unlabelled as an empty cell is, a stream of any length is read a chunk at a
time, Ctrl-C leaves whole lines only, and ``| head`` ends the run quietly.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_tiny_model, require_modules, run_cli

from sxhub.errors import InputError, UserError
from sxhub.predict import Predictor
from sxhub.stream import RowSlice, iter_lines

REPO = Path(__file__).resolve().parents[1]
# an empty line, a CRLF line, a line of a number, a text holding U+2028 (one text: only "\n" ends a line), and a
# last line without "\n"
LINES = ["profit rose", "", "loss fell", "42", "sales\u2028growth strong", "the bank"]
RAW = "profit rose\n\nloss fell\r\n42\nsales\u2028growth strong\nthe bank".encode()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("student") / "model")


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_modules("onnxruntime", "onnx", install='pip install "sxhub[onnx]"')
    from sxhub.export import export_onnx

    path = build_tiny_model(tmp_path_factory.mktemp("student") / "model")
    export_onnx(path)
    return path


def stdin_of(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="latin1"))


def results(stdout: str) -> list[dict]:
    """JSON lines end at "\n" only (splitlines would split a text holding U+2028)."""
    return [json.loads(line) for line in stdout.split("\n") if line]


@pytest.mark.parametrize("onnx", [False, True])
def test_stdin_and_a_txt_file_are_one_text_per_line_and_stdout_gets_json_lines(
    onnx: bool, request: pytest.FixtureRequest, tmp_path: Path, capsys, monkeypatch
) -> None:
    student = request.getfixturevalue("onnx_model" if onnx else "model")
    flags = ["--onnx"] if onnx else []
    stdin_of(monkeypatch, RAW)  # the locale's text layer is not used: the lines are read as UTF-8 bytes
    capsys.readouterr()
    code, stdout, err = run_cli(["predict", str(student), "-", *flags], capsys)
    assert code == 0, err
    rows = results(stdout)  # stdout holds nothing but the results, one JSON object per text, in input order
    assert [r["text"] for r in rows] == LINES
    expected, probs = Predictor(student, onnx=onnx).predict([t for t in LINES if t])
    assert [r["label"] for r in rows if r["text"]] == expected
    assert [r["prob_LABEL_1"] for r in rows if r["text"]] == pytest.approx(probs[:, 1], abs=1e-6)
    assert rows[1]["label"] is None and rows[1]["prob_LABEL_0"] is None  # the empty line: kept, unlabelled
    assert "Labelled 5 texts" in err and "1 row(s) without a text left unlabelled -> stdout" in err

    txt = tmp_path / "texts.txt"
    txt.write_bytes(b"\xef\xbb\xbf" + RAW)  # a byte order mark is not part of the first text
    code, same, err = run_cli(["predict", str(student), str(txt), "-o", "-", *flags], capsys)
    assert code == 0, err
    assert same == stdout
    code, _, err = run_cli(["predict", str(student), str(txt), "-o", str(tmp_path / "out.csv"), *flags], capsys)
    assert code == 0, err
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert written["text"].tolist() == LINES and written["label"].tolist() == [r["label"] or "" for r in rows]


def test_lines_are_read_as_they_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream is read a chunk at a time: the first chunk comes before the stream ends (here: never), and a slice
    stops reading once its rows are read."""

    class Endless:
        read = 0

        def __iter__(self) -> Iterator[bytes]:
            while True:
                self.read += 1
                yield f"text {self.read}\n".encode()

    endless = Endless()
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": endless})())
    first = next(iter_lines("-", chunk_rows=3))
    assert first["text"].tolist() == ["text 1", "text 2", "text 3"] and endless.read == 3
    endless.read = 0
    chunks = list(iter_lines("-", chunk_rows=2, rows=RowSlice(offset=1, limit=3)))
    assert [c["text"].tolist() for c in chunks] == [["text 2", "text 3"], ["text 4"]] and endless.read == 4


def test_bad_stdin_and_txt_inputs_are_one_line(model: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    def refused(argv: list[str], data: bytes = b"") -> str:
        stdin_of(monkeypatch, data)
        code, stdout, err = run_cli(argv, capsys)
        lines = [line for line in err.splitlines() if line.startswith("Error")]
        assert code == 2 and stdout == "" and len(lines) == 1, err
        return lines[0]

    capsys.readouterr()
    assert "stdin gave no line; pipe the texts to it" in refused(["predict", str(model), "-"])
    assert "input stdin is not UTF-8 (line 2, byte 4 of the line" in refused(
        ["predict", str(model), "-"], b"fine\ncaf\xe9 au lait\n"
    )
    assert "input stdin looks like a TSV file: its first line 'text\\tlabel' names columns" in refused(
        ["predict", str(model), "-"], b"text\tlabel\nprofit rose\tpositive\n"
    )
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert "is empty; give it one text per line" in refused(["predict", str(model), str(empty)])
    texts = tmp_path / "texts.txt"
    texts.write_text("profit rose\n", encoding="utf-8")
    assert "drop --text-column" in refused(["predict", str(model), str(texts), "--text-column", "body"])
    assert "pass -o FILE, or drop --json" in refused(["predict", str(model), str(texts), "--json"])
    other = tmp_path / "texts.md"
    other.write_text("profit rose\n", encoding="utf-8")
    assert "or .txt (one text per line), or - to read one text per line from stdin" in refused(
        ["predict", str(model), str(other)]
    )
    assert not list(tmp_path.glob("-*"))  # never a file called "-"


@pytest.mark.parametrize("kind", ["dev-null", "empty-file", "closed-pipe", "stand-in"])
def test_an_empty_stdin_is_said_before_the_model_loads(kind: str, tmp_path: Path, capsys, monkeypatch) -> None:
    """`sxhub predict MODEL - </dev/null` loaded the model (seconds) and only then said stdin gave no line, where an
    empty .txt file is refused before: stdin known to be empty (/dev/null, an empty file given with <, a pipe
    closed with nothing written) is refused before the model loads too."""
    import sxhub.predict_files

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded for an empty stdin")

    monkeypatch.setattr(sxhub.predict_files, "Predictor", never)
    if kind == "stand-in":
        stdin_of(monkeypatch, b"")
    else:
        if kind == "dev-null":
            fd = os.open(os.devnull, os.O_RDONLY)
        elif kind == "empty-file":
            (tmp_path / "empty.txt").write_bytes(b"")
            fd = os.open(tmp_path / "empty.txt", os.O_RDONLY)
        else:
            fd, write_end = os.pipe()
            os.close(write_end)
        stream = os.fdopen(fd, "r", encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", stream)
    try:
        code, stdout, err = run_cli(["predict", str(tmp_path / "model"), "-"], capsys)
    finally:
        sys.stdin.close()
    assert code == 2 and stdout == "", err
    assert err.strip() == "Error: stdin gave no line; pipe the texts to it, one per line (e.g. cat texts.txt | ...)."


def test_an_open_pipe_with_no_line_yet_is_not_taken_for_an_empty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipe whose writer has not written yet (`tail -f log |`) may still give lines: not refused as empty."""
    from sxhub.stream import stdin_is_empty

    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end, "r", encoding="utf-8"))
    try:
        assert not stdin_is_empty()
        os.write(write_end, b"profit rose\n")
        assert not stdin_is_empty() and sys.stdin.buffer.read1() == b"profit rose\n"  # nothing was consumed
    finally:
        os.close(write_end)
        sys.stdin.close()


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting Ray fails the test: the refusals come before it."""
    from sxhub import ray_predict

    def connect(address: str | None) -> None:
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray_predict, "connect", connect)


def test_engine_ray_refuses_stdin_and_stdout_before_starting_ray(model: Path, tmp_path: Path, no_ray) -> None:
    """Its reader runs in a Ray worker, which has not our stdin; it writes Parquet."""
    from sxhub import ray_predict

    out = tmp_path / "out.parquet"
    with pytest.raises(UserError, match=r"^--engine ray cannot read stdin: .* pass that, or drop --engine ray\.$"):
        ray_predict.predict_ray(model, "-", out)
    with pytest.raises(UserError, match=r"^--engine ray writes a Parquet file, not stdout; pass -o OUT\.parquet"):
        ray_predict.predict_ray(model, tmp_path / "in.csv", "-")
    texts = tmp_path / "texts.txt"
    texts.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="is empty; give it one text per line"):
        ray_predict.predict_ray(model, texts, out)
    assert not out.exists()


def test_engine_ray_refuses_a_column_of_numbers_before_starting_ray(model: Path, tmp_path: Path, no_ray) -> None:
    """A text column of numbers (--text-column idx) is refused by one process before any work; --engine ray started
    the cluster and labelled the strings "1", "2" with exit 0."""
    from sxhub import ray_predict

    source, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    pd.DataFrame({"text": ["profit rose", "loss fell"], "idx": [1, 2]}).to_csv(source, index=False)
    with pytest.raises(
        InputError,
        match=r"column 'idx' holds numbers \(\[\"1\", \"2\"\]\), not texts; pass --text-column \(Python: text_column=\)",
    ):
        ray_predict.predict_ray(model, source, out, text_column="idx")
    assert not out.exists()


def sxhub(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "sxhub", "-q", *args], env=env, **kwargs)


@pytest.mark.slow
def test_ctrl_c_leaves_whole_lines_and_a_closed_pipe_ends_quietly(model: Path, tmp_path: Path) -> None:
    """Ctrl-C while a chunk is written (the reader slower than predict: the pipe is full) stopped the write in the
    middle of a line; the lines written are whole results now. A reader that closes the pipe (| head) ends predict
    with 141, as a shell reports any program the closed pipe stopped, with nothing on stderr."""
    words = ["profit", "rose", "loss", "fell", "sales", "growth", "weak", "strong"]
    texts = [" ".join(words[(i * k) % 8] for k in range(1, 12)) for i in range(20000)]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")

    err = tmp_path / "err.txt"
    with source.open("rb") as stdin, err.open("wb") as stderr:
        proc = sxhub("predict", str(model), "-", stdin=stdin, stdout=subprocess.PIPE, stderr=stderr)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # predict writes its first chunk (8,192 lines: more than the pipe holds)
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        code = proc.wait(timeout=120)
    rows = results((first + rest).decode())
    assert code == 130, f"exit {code}, {len(rows)} of {len(texts)} rows written; stderr: {err.read_text()!r}"
    assert 0 < len(rows) < len(texts)
    assert [r["text"] for r in rows] == texts[: len(rows)]
    assert "Interrupted" in err.read_text()

    with source.open("rb") as stdin:
        proc = sxhub("predict", str(model), "-", stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # | head -1
        assert proc.wait(timeout=120) == 141
        assert proc.stderr.read() == b""


def test_a_quiet_ray_run_keeps_ray_datas_info_lines_and_pool_warning_off_stderr() -> None:
    """``sxhub -q predict --engine ray`` wrote Ray Data's INFO lines ("Starting execution of Dataset ...", "Execution
    plan ...", "Data sink Parquet finished ...") to stderr, with its warning that progress bars are off (which -q
    asked for) and a UserWarning that the actor pool got fewer inputs than actors; its summary said "(0 texts/s"
    for 3 texts in 14.6 s. Under -q the console shows Ray Data's warnings only, and is put back after."""
    import logging
    import warnings

    require_modules("ray", install='pip install "sxhub[ray]"')
    import ray.data  # noqa: F401  (configures the "ray.data" logger and its console handler)

    from sxhub.predict_files import PredictSummary
    from sxhub.ray_predict import ray_data_console

    console = [
        h
        for h in logging.getLogger("ray.data").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    assert console
    before = [h.level for h in console]

    def record(level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord("ray.data", level, __file__, 1, msg, None, None)

    starting = record(logging.INFO, "Starting execution of Dataset dataset_0")
    progress = record(logging.WARNING, "Progress bars disabled. To enable, set ...")
    real = record(logging.WARNING, "an actor died")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with ray_data_console(quiet=True):
            for handler in console:
                assert starting.levelno < handler.level and not handler.filter(progress) and handler.filter(real)
            warnings.warn(
                "The minimum number of concurrent actors for 'MapBatches' is set to 2", UserWarning, stacklevel=1
            )
        assert not seen
    assert [h.level for h in console] == before and all(h.filter(progress) for h in console)
    with ray_data_console(quiet=False):
        assert [h.level for h in console] == before

    line = PredictSummary(output=Path("r.parquet"), n=3, seconds=14.6, backend="torch, ray x2").summary_line()
    assert "(0.21 texts/s, torch, ray x2)" in line
    line = PredictSummary(output=Path("r.parquet"), n=29560, seconds=36.5, backend="onnx").summary_line()
    assert "(810 texts/s, onnx)" in line


def test_a_quiet_pipe_ends_a_chunk_so_lines_are_labelled_as_they_come() -> None:
    """Lines from a pipe were labelled 8,192 at a time: `tail -f log | sxhub predict MODEL -`, or a person typing,
    saw nothing until 8,192 lines or the end of input. A pipe quiet for QUIET_PIPE_S with no whole line left ends
    the chunk; a line split across writes is one line, and a last line without a newline is a text."""
    from sxhub.stream import _live_lines

    read, write = os.pipe()
    try:
        lines = _live_lines(read)
        os.write(write, b"profit rose\nloss wid")
        assert next(lines) == b"profit rose\n"
        assert next(lines) is None  # quiet: half a line is held, not given
        os.write(write, b"ened\n")
        assert next(lines) == b"loss widened\n"
        os.write(write, b"flat")
        os.close(write)
        write = -1
        assert [line for line in lines if line is not None] == [b"flat"]
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


@pytest.mark.slow
def test_predict_from_a_pipe_writes_each_line_before_the_next_comes(model: Path) -> None:
    """`sxhub predict MODEL -` with the pipe kept open: each result is written once its line came and the pipe went
    quiet, not after 8,192 lines or the end of input."""
    import select

    proc = sxhub("predict", str(model), "-", stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for text in ("profit rose", "loss widened"):
            proc.stdin.write(text.encode() + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 120)  # the input is still open
            assert ready, f"no result for {text!r} while the pipe stayed open"
            assert json.loads(proc.stdout.readline())["text"] == text
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0 and proc.stdout.read() == b""
    finally:
        proc.kill()
