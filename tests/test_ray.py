"""``--engine ray`` on a real Ray cluster on this machine: a head node and a second worker node (one CPU each).

predict (an actor pool holding the int8 ONNX student) and annotate (shards as Ray tasks against a local fake
teacher) run on it; a worker node is killed midway; every row is in the output exactly once, the labels equal the
single-process run, the teacher never sees more requests in flight than --concurrency, and rerunning a finished
job sends no request.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import build_tiny_model, require_modules
from fake_openai_server import Answer, FakeOpenAIServer, default_answer

from sxhub.data import read_table, write_table
from sxhub.parts import annotate_to_file, parts_dir
from sxhub.spec import TaskSpec

pytestmark = pytest.mark.slow
MB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A head node and one worker node, each with 1 CPU and a small object store; the driver joins it."""
    require_modules("ray", install='pip install "sxhub[ray]"')
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 200 * MB}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


class Killer(threading.Thread):
    """Removes the worker node (its processes die, as on a lost machine) once ``ready()`` is true."""

    def __init__(self, cluster, ready, *, timeout: float = 180) -> None:
        super().__init__(daemon=True)
        self.cluster, self.ready, self.timeout = cluster, ready, timeout
        self.killed_at: float | None = None
        self.start()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        worker = next(iter(self.cluster.worker_nodes))
        self.cluster.remove_node(worker, allow_graceful=False)
        self.killed_at = time.monotonic()


def restore_worker(cluster) -> None:
    if not list(cluster.worker_nodes):
        cluster.add_node(num_cpus=1, object_store_memory=200 * MB)
        cluster.wait_for_nodes()


# --------------------------------------------------------------------------------------------------------------
# annotate: shards as Ray tasks
# --------------------------------------------------------------------------------------------------------------
class Tracking:
    """A fake teacher answer that takes ``delay`` seconds and records how many requests were in flight at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict, n: int) -> Answer:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        return Answer(default_answer(body))


def texts_frame(n: int) -> pd.DataFrame:
    texts = [f"Quarterly note {i}: revenue moved {i % 7} points." for i in range(n)]
    texts[3] = texts[150]  # a duplicate in another shard: dropped when the shards are merged, as in one process
    return pd.DataFrame({"text": texts, "id": [str(i) for i in range(n)]})


def test_annotate_on_the_cluster_survives_a_lost_worker(cluster, tmp_path: Path) -> None:
    from sxhub.ray_annotate import annotate_ray

    source = write_table(texts_frame(240), tmp_path / "in.csv")
    tracking = Tracking(delay=0.05)
    with FakeOpenAIServer(responder=tracking) as server:
        spec = TaskSpec.from_dict(
            {
                "name": "fin",
                "labels": ["positive", "neutral", "negative"],
                "teachers": [{"base_url": server.url, "model": "fake", "server": "llamacpp"}],
            }
        )
        out = tmp_path / "ray.jsonl"
        killer = Killer(cluster, lambda: len(server.requests) >= 60)
        try:
            result = annotate_ray(
                spec, source, out, shards=4, concurrency=3, keep_columns=["id"], chunk_rows=10, progress=False
            )
            finished = time.monotonic()
            killer.join(timeout=30)
        finally:
            restore_worker(cluster)
        assert killer.killed_at is not None and killer.killed_at < finished  # the worker died midway
        asked = len(server.requests)
        assert tracking.most <= 3  # never more than --concurrency in flight, whatever ran where

        # a finished job: assembled again from its parts, no request
        again = annotate_ray(
            spec, source, out, shards=4, concurrency=3, keep_columns=["id"], chunk_rows=10, progress=False
        )
        assert len(server.requests) == asked and again.ledger["requests"] == 0

        single = tmp_path / "single.jsonl"
        annotate_to_file(spec, source, single, keep_columns=["id"], cache=False, progress=False)

    labelled = read_table(out)
    assert sorted(labelled["id"].astype(int)) == [i for i in range(240) if i != 150]  # every row exactly once
    assert out.read_bytes() == single.read_bytes()  # same rows, order, labels and votes as one process
    assert result.ledger["n_texts"] == 239 and result.ledger["n_duplicates"] == 1
    # answers the dead worker had cached were reused: only requests in flight when it died are asked twice; the
    # duplicate is asked once (shards split by text: both copies are in one shard, which drops the second)
    assert 239 <= asked <= 239 + 3
    assert (parts_dir(out) / "manifest.json").is_file()


def test_a_restart_on_the_cluster_asks_nothing_answered_before(cluster, tmp_path: Path) -> None:
    """Each shard's label cache is in its folder under OUT.parts/ (the workers may share no other storage), and
    --restart deleted that folder: after an edit of the spec's license refused the resume, the advised --restart
    ("the label cache keeps every answer") paid every answer again. The license now resumes, and a restart, with
    the same or another number of shards, keeps the caches and asks nothing."""
    from sxhub.ray_annotate import annotate_ray

    source = write_table(texts_frame(160).head(30), tmp_path / "in.csv")
    with FakeOpenAIServer() as server:
        task = {
            "name": "fin",
            "labels": ["positive", "neutral", "negative"],
            "teachers": [{"base_url": server.url, "model": "fake", "server": "llamacpp"}],
        }
        out = tmp_path / "ray.jsonl"
        kwargs = {"concurrency": 2, "chunk_rows": 10, "progress": False}
        annotate_ray(TaskSpec.from_dict(task), source, out, shards=2, **kwargs)
        asked, labelled = len(server.requests), out.read_bytes()
        assert asked == 30
        spec = TaskSpec.from_dict({**task, "license": "mit"})
        assert annotate_ray(spec, source, out, shards=2, **kwargs).ledger["requests"] == 0
        for shards in (2, 3):
            ledger = annotate_ray(spec, source, out, shards=shards, restart=True, **kwargs).ledger
            assert len(server.requests) == asked and ledger["requests"] == 0 and ledger["cached"] == asked
            assert out.read_bytes() == labelled


def test_annotate_on_the_cluster_takes_paths_relative_to_the_driver(
    cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sxhub annotate task.yaml in.csv -o out.jsonl --engine ray``: the shards' tasks run in the folder their node
    was started in (`ray start`'s), not the driver's, and opened ``in.csv`` and ``out.jsonl.parts/`` there: not
    found, or parts written into another folder. Paths are now the driver's."""
    from sxhub.ray_annotate import annotate_ray

    write_table(texts_frame(160).head(20), tmp_path / "in.csv")
    monkeypatch.chdir(tmp_path)  # not the folder the cluster's nodes were started in
    with FakeOpenAIServer() as server:
        spec = TaskSpec.from_dict(
            {
                "name": "fin",
                "labels": ["positive", "neutral", "negative"],
                "teachers": [{"base_url": server.url, "model": "fake", "server": "llamacpp"}],
            }
        )
        result = annotate_ray(spec, "in.csv", "out.jsonl", shards=2, concurrency=2, chunk_rows=10, progress=False)
        annotate_to_file(spec, "in.csv", "one.jsonl", cache=False, progress=False)
    assert result.ledger["n_texts"] == 20
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_annotate_on_the_cluster_opens_a_relative_tuned_teacher_folder(
    cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--teacher ./model`` (a folder from `sxhub tune`): the driver checked it, then every shard's task, in its
    node's folder, refused it (``teacher folder './model' not found``). The shards now get the driver's path; the
    labels are one process's and the run's ledger names the teacher as given."""
    from test_tune import SPEC, build_tiny_llama, corpus, labelled_frame

    from sxhub.ray_annotate import annotate_ray
    from sxhub.tune import TuneOptions, tune

    llama = build_tiny_llama(tmp_path / "llama", corpus())
    labelled_frame().to_csv(tmp_path / "labelled.csv", index=False)
    options = TuneOptions(base=str(llama), epochs=1, group_size=4, lora_r=4, lora_alpha=8, holdout=6, seed=1)
    tune(SPEC, tmp_path / "labelled.csv", tmp_path / "model", options, progress=False)
    write_table(pd.DataFrame({"text": [f"profit rose {i}" for i in range(6)]}), tmp_path / "in.csv")
    monkeypatch.chdir(tmp_path)  # not the folder the cluster's nodes were started in
    result = annotate_ray(SPEC, "in.csv", "out.jsonl", shards=2, teachers=["./model"], progress=False)
    single = annotate_to_file(SPEC, "in.csv", "one.jsonl", teachers=["./model"], cache=False, progress=False)
    assert result.ledger["n_texts"] == 6 and not result.ledger.get("failed")
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert list(result.ledger["teachers"]) == list(single.ledger["teachers"]) == ["tuned:model"]


def test_annotate_on_the_cluster_reads_the_users_label_cache(cluster, tmp_path: Path) -> None:
    """The shards kept only caches of their own under OUT.parts/: every answer already in the user's label cache
    ($SXHUB_CACHE: an earlier one-process run, or the same texts in another job) was asked and paid again. Each
    shard now reads it where it exists on its node."""
    from sxhub.ray_annotate import annotate_ray

    source = write_table(texts_frame(160).head(40), tmp_path / "in.csv")
    with FakeOpenAIServer() as server:
        spec = TaskSpec.from_dict(
            {
                "name": "fin",
                "labels": ["positive", "neutral", "negative"],
                "teachers": [{"base_url": server.url, "model": "fake", "server": "llamacpp"}],
            }
        )
        single = tmp_path / "single.jsonl"
        annotate_to_file(spec, source, single, progress=False)  # the user's cache ($SXHUB_CACHE) holds the answers
        asked = len(server.requests)
        out = tmp_path / "ray.jsonl"
        ledger = annotate_ray(spec, source, out, shards=2, concurrency=2, chunk_rows=10, progress=False).ledger
        assert len(server.requests) == asked and ledger["requests"] == 0 and ledger["cached"] == asked
    assert out.read_bytes() == single.read_bytes()


# --------------------------------------------------------------------------------------------------------------
# predict: Ray Data and an actor pool of int8 ONNX students
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def int8_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_modules("onnxruntime", "onnx", install='pip install "sxhub[onnx]"')
    from sxhub.export import export_onnx

    model = build_tiny_model(tmp_path_factory.mktemp("student") / "model")
    export_onnx(model, int8=True)
    return model


def test_predict_on_the_cluster_equals_one_process_and_survives_a_lost_worker(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    from sxhub.predict import predict_file
    from sxhub.ray_predict import predict_ray

    words = ["profit", "rose", "loss", "fell", "sales", "growth", "weak", "strong"]
    texts = [" ".join(words[(i * k) % 8] for k in range(1, 2 + i % 6)) if i % 11 else "" for i in range(12000)]
    source = write_table(pd.DataFrame({"id": [str(i) for i in range(12000)], "text": texts}), tmp_path / "in.csv")
    single = predict_file(int8_student, source, tmp_path / "one.parquet", onnx=True, int8=True, chunk_rows=500)

    out = tmp_path / "ray.parquet"
    killer = Killer(cluster, lambda: any(parts_dir(out).glob("*.parquet")))  # once the first rows are written
    try:
        summary = predict_ray(int8_student, source, out, onnx=True, int8=True, workers=2, chunk_rows=500)
        finished = time.monotonic()
        killer.join(timeout=30)
    finally:
        restore_worker(cluster)
    assert killer.killed_at is not None and killer.killed_at < finished  # the worker died midway

    ray_rows, one = read_table(out), read_table(tmp_path / "one.parquet")
    assert ray_rows["id"].tolist() == [str(i) for i in range(12000)]  # every row once, in input order
    assert summary.n == single.n == 12000 and summary.n_empty == single.n_empty == 1091
    assert ray_rows["label"].tolist() == one["label"].tolist()
    probs = [c for c in one.columns if c.startswith("prob_")]
    np.testing.assert_array_equal(ray_rows[probs].to_numpy(), one[probs].to_numpy())  # the same chunks: bit for bit
    assert not parts_dir(out).exists()


def test_predict_on_the_cluster_takes_the_rows_of_a_slice_as_one_process_does(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    from sxhub.predict import predict_file
    from sxhub.ray_predict import predict_ray
    from sxhub.stream import RowSlice

    words = ["profit", "rose", "loss", "fell", "sales", "growth", "weak", "strong"]
    texts = [" ".join(words[(i * k) % 8] for k in range(1, 2 + i % 5)) for i in range(5000)]
    frame = pd.DataFrame({"id": [str(i) for i in range(5000)], "text": texts})
    slices = {  # offset and limit across chunk boundaries; shards of a slice; a shard of the whole input
        "in.csv": RowSlice(offset=1234, limit=2000),
        "in.parquet": RowSlice(offset=7, limit=4000, shard=(1, 3)),
        "in.jsonl": RowSlice(shard=(2, 4)),
    }
    for name, rows in slices.items():
        source = write_table(frame, tmp_path / name)
        one = predict_file(
            int8_student, source, tmp_path / "one.parquet", onnx=True, int8=True, rows=rows, chunk_rows=300
        )
        out = tmp_path / f"ray-{Path(name).suffix[1:]}.parquet"
        summary = predict_ray(int8_student, source, out, onnx=True, int8=True, workers=2, chunk_rows=300, rows=rows)
        ray_rows, one_rows = read_table(out), read_table(tmp_path / "one.parquet")
        expected = [str(i) for i in range(5000)][rows.offset : rows.offset + (rows.limit or 5000)]
        if rows.shard:
            expected = expected[rows.shard[0] :: rows.shard[1]]
        assert ray_rows["id"].tolist() == one_rows["id"].tolist() == expected, name  # same rows, same order
        assert summary.n == one.n == len(expected)
        pd.testing.assert_frame_equal(ray_rows, one_rows, check_exact=True)


def test_predict_on_the_cluster_stopped_or_given_an_empty_slice_leaves_nothing_and_says_why(
    cluster, int8_student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM, a failed actor) once Ray had written rows left OUT.parts/ with them (29 MB of 1M rows
    stopped at 60 s) under the line 'nothing half-written is left', which one process keeps to; and an --offset past
    the input's end said 'the input has no rows' where one process names the slice and the fix."""
    import sxhub.ray_predict as ray_predict
    from sxhub.errors import InputError
    from sxhub.stream import RowSlice

    source = write_table(pd.DataFrame({"text": ["profit rose", "sales fell"] * 600}), tmp_path / "in.csv")
    out = tmp_path / "ray.parquet"
    written: list[int] = []

    def stopped(folder: Path, output: Path) -> None:  # Ctrl-C as the rows are joined
        written.append(len(list(folder.glob("*.parquet"))))
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_predict, "_join_parquet", stopped)
    with pytest.raises(KeyboardInterrupt):
        ray_predict.predict_ray(int8_student, source, out, onnx=True, workers=1, chunk_rows=500)
    assert written and written[0] > 0  # Ray had written parts
    assert not parts_dir(out).exists() and not out.exists()
    monkeypatch.undo()

    with pytest.raises(InputError, match=r"has no rows in offset 5000: it ends before them; pass a smaller --offset"):
        ray_predict.predict_ray(int8_student, source, out, onnx=True, workers=1, rows=RowSlice(offset=5000))
    assert not parts_dir(out).exists() and not out.exists()


def test_predict_on_the_cluster_counts_the_texts_cut_at_max_length(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    """Articles past the student's max_length, in several blocks labelled by two actors: the summary said only
    'Labelled N texts' (each actor's count stayed in its process); the blocks' counts are now summed, as one process
    counts them, and the output has no column more than one process writes."""
    from sxhub.model_info import read_model_info
    from sxhub.predict import predict_file
    from sxhub.ray_predict import predict_ray

    article = " ".join(["profit rose while sales fell"] * 60)  # far past max_length
    texts = [article if i % 4 == 0 else "profit rose" for i in range(40)]  # 10 long ones, in each block
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")
    single = predict_file(int8_student, source, tmp_path / "one.parquet", onnx=True, int8=True, chunk_rows=8)
    summary = predict_ray(
        int8_student, source, tmp_path / "ray.parquet", onnx=True, int8=True, workers=2, chunk_rows=8
    )
    assert single.truncated == summary.truncated == 10
    assert summary.max_length == read_model_info(int8_student).max_length
    assert "; 10 text(s) (25%) longer than the model's" in summary.summary_line()
    assert list(read_table(tmp_path / "ray.parquet").columns) == list(read_table(tmp_path / "one.parquet").columns)


def test_predict_on_the_cluster_takes_paths_relative_to_the_driver(
    cluster, int8_student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative input and output paths are the driver's, though Ray's tasks run in their node's folder."""
    from sxhub.predict import predict_file
    from sxhub.ray_predict import predict_ray

    write_table(pd.DataFrame({"text": ["profit rose", "sales fell"] * 20}), tmp_path / "in.csv")
    monkeypatch.chdir(tmp_path)  # not the folder the cluster's nodes were started in
    predict_file(int8_student, "in.csv", "one.parquet", onnx=True, int8=True)
    summary = predict_ray(int8_student, "in.csv", "out.parquet", onnx=True, int8=True, workers=1)
    assert summary.n == 40 and summary.summary_line().endswith("-> out.parquet")  # as given, as one process says
    assert read_table(tmp_path / "out.parquet").equals(read_table(tmp_path / "one.parquet"))
    assert not parts_dir(tmp_path / "out.parquet").exists()


def test_predict_on_the_cluster_with_threads_reserves_a_cpu_per_thread(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    """``--threads 2``: each student actor ran 2 threads but reserved 0.8 of a CPU, and the pool had one actor per CPU
    of the cluster, so a node ran twice as many threads as it has cores. With a 2-CPU node beside the two of one:
    one actor fits there (the 1-CPU nodes cannot hold a 2-thread actor), not four; the labels are one process's."""
    import ray

    from sxhub.predict import predict_file
    from sxhub.ray_predict import predict_ray

    texts = ["profit rose", "sales fell", "weak growth", ""] * 30
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")
    single = predict_file(int8_student, source, tmp_path / "one.parquet", onnx=True, int8=True, chunk_rows=40)
    node = cluster.add_node(num_cpus=2, object_store_memory=200 * MB)
    cluster.wait_for_nodes()
    try:
        assert ray.cluster_resources()["CPU"] == 4
        out = tmp_path / "ray.parquet"
        summary = predict_ray(int8_student, source, out, onnx=True, int8=True, threads=2, chunk_rows=40)
    finally:
        cluster.remove_node(node)
    assert summary.backend.endswith("ray x1")
    assert read_table(out)["label"].tolist() == read_table(tmp_path / "one.parquet")["label"].tolist()
    assert summary.n == single.n == 120


def test_cli_engine_ray(cluster, int8_student: Path, tmp_path: Path, capsys) -> None:
    from conftest import run_cli

    texts = ["profit rose", "", "sales fell"] * 50
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.jsonl")
    out = tmp_path / "out.parquet"
    code, stdout, err = run_cli(
        ["predict", str(int8_student), str(source), "-o", str(out), "--onnx", "--int8", "--engine", "ray", "--json"],
        capsys,
    )
    assert code == 0, err
    assert '"n": 150' in stdout and '"n_empty": 50' in stdout and "ray x2" in stdout
    assert len(read_table(out)) == 150
    code, _, err = run_cli(["predict", str(int8_student), str(source), "-o", "x.csv", "--engine", "ray"], capsys)
    assert code == 2 and "--engine ray writes Parquet; name the output .parquet (e.g. -o x.parquet)" in err

    sliced = ["--offset", "10", "--limit", "100", "--shard", "1/2", "--engine", "ray", "--json"]
    code, stdout, err = run_cli(["predict", str(int8_student), str(source), "-o", str(out), *sliced], capsys)
    assert code == 0, err
    assert '"n": 50' in stdout and read_table(out)["text"].tolist() == texts[10:110][1::2]
    url = ["predict", str(int8_student), "s3://bucket/in.csv", "-o", str(out), "--offset", "5", "--engine", "ray"]
    code, _, err = run_cli(url, capsys)
    assert code == 2 and "--offset and --shard with --engine ray read a local file or a Hub dataset" in err


def test_quiet_predict_on_the_cluster_leaves_stderr_to_errors(cluster, int8_student: Path, tmp_path: Path) -> None:
    """``sxhub -q predict --engine ray`` ("only errors on stderr") printed Ray's warning that token authentication
    is on and the driver's C++ line ``core_worker.cc: Actor ... has constructor arguments in the object store and
    max_restarts > 0 ...``; now nothing, and an error is still its one line. Run as a user runs it (a process of its
    own, whose stderr the C++ logger writes to), on an input at a URL (read by Ray's own reader)."""
    texts = ["profit rose", "sales fell", ""] * 40
    source = write_table(pd.DataFrame({"text": texts, "id": [str(i) for i in range(120)]}), tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    base = ["-q", "predict", str(int8_student), source.as_uri(), "-o", str(out), "--onnx", "--int8"]
    done = run_sync([*cli_argv(), *base, "--engine", "ray", "--address", cluster.address])
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert read_table(out)["id"].tolist() == [str(i) for i in range(120)]

    done = run_sync([*cli_argv(), *base, "--text-column", "id", "--engine", "ray", "--address", cluster.address])
    assert done.returncode == 2
    assert done.stderr == (
        'Error: column \'id\' holds numbers (["0", "1", "2"]), not texts; pass --text-column (Python: text_column=) '
        "with the column of texts.\n"
    )


def test_predict_on_the_cluster_refuses_a_url_whose_text_column_holds_numbers(
    cluster, int8_student: Path, tmp_path: Path, capsys
) -> None:
    """A local file whose text column holds numbers is refused in one line; at a URL (read by Ray's readers, not
    the local reader that checks) the same file was labelled, "0", "1", "2" as texts, with exit 0. A file:// URL
    takes the URL path (Ray's read_csv, read_json, read_parquet), as s3:// does."""
    from conftest import run_cli

    frame = pd.DataFrame({"id": list(range(50)), "body": ["profit rose"] * 50})
    for name, shown in [("in.csv", '["0", "1", "2"]'), ("in.jsonl", "[0, 1, 2]"), ("in.parquet", "[0, 1, 2]")]:
        source = write_table(frame, tmp_path / name)
        out = tmp_path / "out.parquet"
        argv = ["predict", str(int8_student), source.as_uri(), "-o", str(out), "--onnx", "--int8", "--engine", "ray"]
        for given in (source.as_uri(), str(source)):  # the URL says what the local file says
            argv[2] = given
            code, _, err = run_cli([*argv, "--text-column", "id"], capsys)
            assert code == 2, (name, given, err)
            assert f"column 'id' holds numbers ({shown}), not texts; pass --text-column" in err, (name, given)
            assert not out.exists()
        code, _, err = run_cli([*argv, "--text-column", "body"], capsys)  # its texts are labelled
        assert code == 0, err
        assert read_table(out)["body"].tolist() == ["profit rose"] * 50
        out.unlink()


def test_predict_on_the_cluster_refuses_a_later_bad_text_in_the_line_one_process_gives(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    """A JSONL whose text column holds a list in a row past the first chunk: one process refuses it in one line
    (exit 2); the student actor's refusal came out as ``Error: RayTaskError(UserCodeException): ray::MapWorker(...)``
    and its whole traceback on one line (exit 1), after two ERROR lines of Ray Data's, under ``-q``."""
    import json

    source = tmp_path / "in.jsonl"
    rows = [{"id": i, "text": ["a", "b"] if i == 8500 else f"profit rose {i}"} for i in range(8600)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    line = (
        'Error: column \'text\' holds a list (["a", "b"]), not a text; pass --text-column (Python: text_column=) '
        "with the column of texts.\n"
    )
    base = ["-q", "predict", str(int8_student), str(source), "--onnx", "--int8"]
    single = run_sync([*cli_argv(), *base, "-o", str(tmp_path / "one.parquet")])
    assert (single.returncode, single.stderr) == (2, line)
    out = tmp_path / "out.parquet"
    done = run_sync([*cli_argv(), *base, "-o", str(out), "--engine", "ray", "--address", cluster.address])
    assert (done.returncode, done.stderr) == (2, line)
    assert not out.exists() and not parts_dir(out).exists()


def test_annotate_on_the_cluster_reads_a_label_cache_named_relative_to_the_driver(
    cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SXHUB_CACHE=cache``: the shards looked for the user's label cache in their node's folder, found none, and
    asked (and paid) every answer it held again."""
    from sxhub.ray_annotate import annotate_ray

    write_table(texts_frame(160).head(12), tmp_path / "in.csv")
    monkeypatch.chdir(tmp_path)  # not the folder the cluster's nodes were started in
    monkeypatch.setenv("SXHUB_CACHE", "cache")
    with FakeOpenAIServer() as server:
        spec = TaskSpec.from_dict(
            {
                "name": "fin",
                "labels": ["positive", "neutral", "negative"],
                "teachers": [{"base_url": server.url, "model": "fake", "server": "llamacpp"}],
            }
        )
        annotate_to_file(spec, "in.csv", "one.jsonl", progress=False)  # fills ./cache
        asked = len(server.requests)
        ledger = annotate_ray(spec, "in.csv", "out.jsonl", shards=2, concurrency=2, progress=False).ledger
    assert asked == 12 and len(server.requests) == asked and ledger["cached"] == asked
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_predict_on_the_cluster_refuses_a_student_that_cannot_load_in_the_line_one_process_gives(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    """An int8 export without the fp32 one it reruns near-ties with: one process refuses it in one line (exit 2);
    on the cluster each actor died in its constructor, Ray printed its traceback on stdout (``(raylet) Task ...
    failed. There are infinite retries remaining``) and the run ended ``ActorDiedError: The actor died because of
    an error raised in its creation task, ray::MapWorker(...)``. The student is now opened on the driver first."""
    student = tmp_path / "student"
    shutil.copytree(int8_student, student)
    (student / "onnx" / "model.onnx").unlink()
    source = write_table(pd.DataFrame({"text": ["profit rose", "sales fell"] * 20}), tmp_path / "in.csv")
    base = ["-q", "predict", str(student), str(source), "--onnx", "--int8"]
    single = run_sync([*cli_argv(), *base, "-o", str(tmp_path / "one.parquet")])
    assert single.returncode == 2 and "int8 reruns its near-ties with the fp32 export" in single.stderr
    out = tmp_path / "out.parquet"
    done = run_sync([*cli_argv(), *base, "-o", str(out), "--engine", "ray", "--address", cluster.address])
    assert (done.returncode, done.stdout, done.stderr) == (2, "", single.stderr)
    assert not out.exists()


def test_a_shard_that_fails_on_the_cluster_says_what_failed(
    cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard's task that raised an error of no sxhub type (a teacher client's own) was reported by the first line
    of Ray's error, ``ray::_run_shard() (pid=..., ip=...)``: which process, not what went wrong."""
    import sxhub.ray_annotate as ray_annotate
    from sxhub.distributed import RayError

    def broken(job: object) -> str:
        raise ValueError("the teacher client broke")

    monkeypatch.setattr(ray_annotate, "_run_shard", broken)
    source = write_table(texts_frame(160).head(20), tmp_path / "in.csv")
    spec = TaskSpec.from_dict(
        {
            "name": "fin",
            "labels": ["positive", "neutral", "negative"],
            "teachers": [{"base_url": "http://127.0.0.1:9/v1", "model": "fake", "server": "llamacpp"}],
        }
    )
    with pytest.raises(RayError) as caught:
        ray_annotate.annotate_ray(spec, source, tmp_path / "out.jsonl", shards=2, task_retries=0, progress=False)
    message = str(caught.value)
    assert "(ValueError: the teacher client broke)" in message, message
    assert "ray::" not in message and "rerun the same command to resume" in message


def test_a_shard_that_fails_lets_the_others_finish_their_requests_in_flight(
    cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One shard failing force-cancelled the others: their requests in flight were computed by the server (billed by
    a paid endpoint) and never reached their label caches, where Ctrl-C waits for them. A shard's failure now lets
    the running shards finish their requests in flight, as Ctrl-C does, then says what failed."""
    from test_interrupt_drain import CONCURRENCY, Slow

    import sxhub.ray_annotate as ray_annotate
    from sxhub.cache import LabelCache
    from sxhub.distributed import RayError
    from sxhub.parts.layout import shard_dir

    original = ray_annotate._run_shard
    flag = tmp_path / "asked"

    class Marking(Slow):  # marks the first request on disk, for the failing shard's task to see
        def __call__(self, body: dict, n: int):  # type: ignore[no-untyped-def]
            flag.touch()
            return super().__call__(body, n)

    def one_fails(job):  # type: ignore[no-untyped-def]
        if Path(job.folder).name.startswith("shard-00000"):
            deadline = time.monotonic() + 60
            while not flag.exists() and time.monotonic() < deadline:  # the other shard's requests are on their way
                time.sleep(0.1)
            time.sleep(1.0)
            raise ValueError("the teacher client broke")
        return original(job)

    monkeypatch.setattr(ray_annotate, "_run_shard", one_fails)
    source = write_table(texts_frame(160).head(40), tmp_path / "in.csv")
    responder = Marking(6.0)
    with FakeOpenAIServer(responder) as server:
        spec = TaskSpec.from_dict(
            {
                "name": "fin",
                "labels": ["positive", "neutral", "negative"],
                "teachers": [{"base_url": server.url, "model": "fake", "name": "srv", "timeout": 120}],
            }
        )
        out = tmp_path / "out.jsonl"
        with pytest.raises(RayError) as caught:
            ray_annotate.annotate_ray(
                spec, source, out, shards=2, task_retries=0, progress=False, concurrency=2 * CONCURRENCY
            )
        asked = len(server.requests)
    assert "(ValueError: the teacher client broke)" in str(caught.value)
    assert asked >= 1
    with LabelCache(shard_dir(parts_dir(out), 1, 2)) as kept:
        assert len(kept) == asked  # every request the other shard sent was answered and kept


def cli_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "sxhub"]


# --------------------------------------------------------------------------------------------------------------
# annotate: Ctrl-C on the driver
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("signum", "code", "word"), [(2, 130, "Interrupted"), (15, 143, "Terminated")])
def test_an_interrupted_annotate_on_the_cluster_keeps_the_answers_in_flight(
    cluster, tmp_path: Path, signum: int, code: int, word: str
) -> None:
    """Ctrl-C on the driver, inside ray.wait, ended the run at once: Ray killed the shard's worker with its 4
    requests on their way (the server computed them, a paid endpoint billed them), and the shard's label cache kept
    none of them. The driver now asks each running shard to finish its requests in flight, waits for them, then
    ends as an interrupted run does; the rerun asks only the texts never asked."""
    import signal
    import sys

    from test_interrupt_drain import CONCURRENCY, INTERRUPTED, N_TEXTS, Running, Slow, write_inputs

    last = INTERRUPTED.replace("Interrupted", word)

    from sxhub.cache import LabelCache
    from sxhub.parts.layout import shard_dir

    responder = Slow(4.0)
    with FakeOpenAIServer(responder) as server:
        task, data = write_inputs(tmp_path, server.url)
        out = tmp_path / "labelled.jsonl"
        argv = [sys.executable, "-m", "sxhub", "annotate", str(task), str(data), "-o", str(out)]
        argv += ["--concurrency", str(CONCURRENCY), "--engine", "ray", "--address", cluster.address, "--shards", "1"]
        run = Running(argv, preexec_fn=sigint_as_a_terminal_gives)
        run.wait_for(lambda: len(server.requests) >= CONCURRENCY, f"{CONCURRENCY} requests in flight", timeout=120)
        run.proc.send_signal(signal.Signals(signum))
        returncode = run.end(timeout=90)
        responder.slow = False
        assert returncode == code, run.stderr()
        assert run.lines[-1] == last
        asked = len(server.requests)
        assert asked == CONCURRENCY  # nothing new was sent after the interrupt
        with LabelCache(shard_dir(parts_dir(out), 0, 1)) as kept:
            assert len(kept) == CONCURRENCY  # every request sent was answered and kept
        assert f"{word}: waiting for the 1 running shard to finish their requests in flight" in run.stderr()

        done = run_sync(argv)
        assert done.returncode == 0, done.stderr
        assert len(server.requests) == N_TEXTS  # the rerun asked only the texts never asked
        assert all(n == 1 for n in server.per_text.values())
    assert not pd.read_json(out, lines=True)["failed"].any()


def test_a_second_interrupt_on_the_cluster_abandons_the_requests_in_flight(cluster, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from test_interrupt_drain import CONCURRENCY, INTERRUPTED, Running, Slow, write_inputs

    responder = Slow(90.0)  # far past the test's bound: only abandoning them ends the run in time
    with FakeOpenAIServer(responder) as server:
        task, data = write_inputs(tmp_path, server.url)
        argv = [sys.executable, "-m", "sxhub", "annotate", str(task), str(data), "-o", str(tmp_path / "out.jsonl")]
        argv += ["--concurrency", str(CONCURRENCY), "--engine", "ray", "--address", cluster.address, "--shards", "1"]
        run = Running(argv, preexec_fn=sigint_as_a_terminal_gives)
        run.wait_for(lambda: len(server.requests) >= CONCURRENCY, f"{CONCURRENCY} requests in flight", timeout=120)
        run.proc.send_signal(signal.SIGINT)
        run.wait_for(lambda: any("in flight" in line for line in run.lines), "the line saying it waits for them")
        run.proc.send_signal(signal.SIGINT)
        try:
            code = run.end(timeout=45)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            pytest.fail(f"a second Ctrl-C did not end the run: {run.stderr()[-2000:]}")
        responder.slow = False
        assert code == 130, run.stderr()
        assert run.lines[-1] == INTERRUPTED
        assert len(server.requests) == CONCURRENCY


def sigint_as_a_terminal_gives() -> None:
    """In the child: Ctrl-C's default (the cluster's nodes, started by this process, leave it ignored here)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_sync(argv: list[str]):
    import os
    import subprocess

    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)


def test_predict_on_the_cluster_counts_the_near_ties_rerun_in_fp32_as_one_process(
    cluster, int8_student: Path, tmp_path: Path
) -> None:
    """An int8 student's summary said `rechecked: null` on the cluster where one process said 0 (its recheck margin
    touched no text), or how many texts it reran in fp32: each actor's count stayed in its process. The blocks
    carry it now, summed as one process counts it; without a recheck both say None."""
    from sxhub.predict import predict_file
    from sxhub.ray_predict import predict_ray

    texts = ["profit rose", "", "sales fell", "loss widened"] * 5  # 15 texts and 5 empty rows, in 3 blocks
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")
    figures = {}
    for recheck in (True, 50.0, False):  # the margin the export recorded, one past every text's, no recheck
        options: dict = dict(onnx=True, int8=True, chunk_rows=8, recheck=recheck)
        single = predict_file(int8_student, source, tmp_path / "one.parquet", **options)
        on_ray = predict_ray(int8_student, source, tmp_path / "ray.parquet", workers=2, **options)
        assert on_ray.to_dict()["rechecked"] == single.to_dict()["rechecked"], recheck
        assert list(read_table(tmp_path / "ray.parquet").columns) == list(read_table(tmp_path / "one.parquet").columns)
        figures[recheck] = (on_ray.rechecked, on_ray.summary_line())
    assert figures[True][0] is not None and figures[50.0][0] == 15 and figures[False][0] is None
    assert ", 15 near-ties (100.0%) rerun in fp32" in figures[50.0][1] and "near-ties" not in figures[False][1]


LOCAL_RAY = """
import os, sys
import ray
from sxhub.distributed import connect, disconnect
owned = connect(*sys.argv[1:])
print("auth mode:", os.environ.get("RAY_AUTH_MODE"), flush=True)
print("task:", ray.get(ray.remote(lambda: 7).remote()), flush=True)
disconnect(owned)
from ray._raylet import get_authentication_mode
left = [os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")]
print("after the run:", *left, int(get_authentication_mode()), flush=True)
from ray._private.authentication.authentication_token_setup import _warn_token_auth_enabled
print("--- after the run", file=sys.stderr, flush=True)
_warn_token_auth_enabled()  # what Ray says of a cluster the user starts afterwards
"""
AUTH_NOTICE = "Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled"
STARTED = "Ray: starting a local cluster for this run"


def first_ray_line(stderr: str) -> str:
    """sxhub's line on the cluster it uses (Ray's own lines, such as a warning that it found several, may come before)."""
    return next((line for line in stderr.splitlines() if line.startswith("Ray: ")), "")


def run_local_ray(env: dict[str, str], *args: str, alone: bool = True) -> subprocess.CompletedProcess[str]:
    """LOCAL_RAY in a process of its own, as a user runs it, with ``env`` (no RAY_AUTH_MODE, RAY_ADDRESS); ``alone``:
    in a Ray temp folder of its own, where no running cluster left its address (a short path: Ray's sockets)."""
    env = {k: v for k, v in env.items() if k not in {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"}}
    env.update(OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    folder = tempfile.mkdtemp(prefix="sxr", dir="/tmp")
    try:
        if alone:
            env["RAY_TMPDIR"] = folder
        argv = [sys.executable, "-c", LOCAL_RAY, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CRASHING_TASK = """
import os, sys, time
import ray
from sxhub.distributed import connect, disconnect
owned = connect("local", quiet=True)

@ray.remote(max_retries=1)
def once(flag):
    if not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(1)  # the worker dies: Ray retries the task
    return 7

print(ray.get(once.remote(sys.argv[1])), flush=True)
time.sleep(3)  # Ray's driver thread prints what its raylet reported meanwhile
disconnect(owned)
"""


def test_rays_reports_of_a_dead_worker_go_to_stderr_not_stdout(tmp_path: Path) -> None:
    """Ray's driver prints what the raylet reports (a worker that died, a task it retries) on stdout, even with
    ``log_to_driver=False`` (``ray/_private/worker.py`` ``listen_error_messages``: ``is_err: False``), where
    ``predict --json`` and ``annotate --json`` print one JSON object and nothing else. Under sxhub's Ray they go to
    stderr."""
    env = {k: v for k, v in os.environ.items() if k not in {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"}}
    env.update(OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    folder = tempfile.mkdtemp(prefix="sxr", dir="/tmp")
    try:
        env["RAY_TMPDIR"] = folder
        argv = [sys.executable, "-c", CRASHING_TASK, str(tmp_path / "flag")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "7\n", done.stdout
    assert "(raylet)" in done.stderr and "retried" in done.stderr, done.stderr


def test_the_local_ray_sxhub_starts_itself_leaves_out_the_token_authentication_warning(
    cluster, tmp_path: Path
) -> None:
    """Every ``predict``/``annotate --engine ray`` without an address printed Ray 2.60's warning ``Token
    authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out`` about the local Ray that
    sxhub starts for the run and stops after it. The line goes; authentication stays on (Ray's default), and Ray's
    line about a cluster the user starts after the run is printed as before. Without an address beside a cluster
    the user left running (``cluster``: Ray joins it, as ``ray.init()`` does), Ray's line about that cluster is kept.

    The run's first line says which cluster it uses (it said nothing, and the docs said a local one is started even
    where Ray joined the user's), and the process's environment is as before the run: Ray's ``RAY_AUTH_MODE=token``
    stayed set, so a notebook's own ``ray.init(address=...)`` after it inherited token authentication."""
    env = {**os.environ, "HOME": str(tmp_path)}  # a home of its own, where Ray keeps its token
    done = run_local_ray(env)
    assert done.returncode == 0, done.stderr
    assert "auth mode: token" in done.stdout and "task: 7" in done.stdout  # Ray's default, as before
    assert "after the run: None None 0" in done.stdout  # RAY_AUTH_MODE gone again, and Ray's reading of it
    during, _, after = done.stderr.partition("--- after the run")
    assert first_ray_line(during) == STARTED, done.stderr
    assert AUTH_NOTICE not in during and AUTH_NOTICE in after, done.stderr  # the filter went with the run

    assert (tmp_path / ".ray" / "auth_token").exists()  # Ray made one: joining now says that it uses it
    joined = run_local_ray(env, alone=False)
    assert joined.returncode == 0, joined.stderr
    during = joined.stderr.partition("--- after the run")[0]
    assert first_ray_line(during).startswith(f"Ray: joining the cluster at {cluster.address} (left running by"), during
    assert AUTH_NOTICE in during, joined.stderr
    assert "after the run: None None 0" in joined.stdout  # Ray set RAY_AUTH_MODE=token for the found cluster too


def test_a_local_ray_starts_where_ray_cannot_write_its_token_in_the_home(cluster, tmp_path: Path) -> None:
    """Ray 2.60 writes a token to ``~/.ray/auth_token`` for every new local Ray where none exists: with a home it
    cannot write (read-only, as on many clusters and in CI containers; here a file, which no one can make ``.ray``
    in), every ``--engine ray`` run without an address stopped before it started (``OSError: [Errno 30] Read-only
    file system: '~/.ray'``, told as a bad path of the user's). The local Ray gets a token for the run alone (in the
    environment, gone after it): it runs, with authentication on, and nothing is written to the home. ``--address
    local`` starts one even where a cluster (``cluster``) is running."""
    home = tmp_path / "home"
    home.write_text("not a folder")
    done = run_local_ray({**os.environ, "HOME": str(home)}, "local", alone=False)
    assert done.returncode == 0, done.stderr
    assert first_ray_line(done.stderr) == STARTED, done.stderr
    assert "auth mode: token" in done.stdout and "task: 7" in done.stdout
    assert "after the run: None None 0" in done.stdout
    assert home.read_text() == "not a folder"


def test_a_cluster_ray_start_left_that_is_gone_is_passed_over_for_a_local_ray(tmp_path: Path) -> None:
    """``ray start`` writes its address to Ray's ``ray_current_cluster`` file and ``ray stop`` removes it; a cluster
    killed or crashed leaves it. Without --address, sxhub said it joined that cluster and ray.init() then waited for
    minutes (measured: over 3, printing GCS timeouts) for a cluster that was gone. Nothing answering there, a local
    Ray starts for the run, and the first line says why and how to forget the stale address."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"}}
    folder = tempfile.mkdtemp(prefix="sxr", dir="/tmp")
    try:
        (Path(folder) / "ray").mkdir()
        (Path(folder) / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}")
        env.update(HOME=str(tmp_path), RAY_TMPDIR=folder, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
        done = subprocess.run([sys.executable, "-c", LOCAL_RAY], capture_output=True, text=True, timeout=150, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert "task: 7" in done.stdout, done.stderr
    line = first_ray_line(done.stderr)  # Ray reads 127.0.0.1 as this node's address
    assert line.startswith(f"{STARTED} (the cluster `ray start` left at "), done.stderr
    assert line.endswith(f":{port} does not answer: Connection refused; `ray stop` forgets it)"), done.stderr


NO_TOKEN = """
import json
import os
from sxhub.distributed import RayError, connect
try:
    connect()
except RayError as exc:
    print(exc, "|", os.environ.get("RAY_AUTH_MODE"))
"""


def test_a_local_ray_that_cannot_read_its_token_says_so_in_one_line(tmp_path: Path) -> None:
    """A local Ray that stops on its token (here RAY_AUTH_TOKEN_PATH names no file) gives one line with Ray's reason
    and the fix, and leaves the environment as it was (its text told the mode after sxhub had put it back)."""
    env = {k: v for k, v in os.environ.items() if k not in {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"}}
    folder = tempfile.mkdtemp(prefix="sxr", dir="/tmp")
    try:
        env.update(HOME=str(tmp_path), RAY_TMPDIR=folder, RAY_AUTH_TOKEN_PATH=str(tmp_path / "missing"))
        done = subprocess.run([sys.executable, "-c", NO_TOKEN], capture_output=True, text=True, timeout=120, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("could not start a local Ray (AuthenticationError: RAY_AUTH_TOKEN_PATH is set"), line
    assert "set RAY_AUTH_MODE=disabled" in line and line.endswith("| None"), line
    assert "Note: RAY_AUTH_MODE is currently" not in line


def test_a_failed_task_is_named_by_the_error_it_raised() -> None:
    """The line for a Ray task that failed names what went wrong: the error the task raised (not Ray's first line,
    ``ray::_run_shard() (pid=..., ip=...)``), the error at the end of a traceback Ray passes as text (an actor that
    died in its constructor), or the first line of an error of Ray's own (a worker lost to memory)."""
    require_modules("ray", install='pip install "sxhub[ray]"')
    import ray.exceptions as rex

    from sxhub.distributed import task_failure

    raised = rex.RayTaskError("_run_shard", "ray::_run_shard() (pid=1)\n  ...", ValueError("boom\nmore"))
    assert task_failure(raised.as_instanceof_cause()) == "ValueError: boom"
    trace = 'ray::MapWorker.__init__() (pid=1)\n  File "predict.py", line 471\nsxhub.errors.ModelError: cannot load'
    died = rex.ActorDiedError(rex.RayTaskError("__init__", trace, RuntimeError("x")))
    assert task_failure(died) == "ActorDiedError: sxhub.errors.ModelError: cannot load"
    memory = rex.OutOfMemoryError("Task was killed due to the node running low on memory.\nRefer to https://x")
    assert task_failure(memory) == "OutOfMemoryError: Task was killed due to the node running low on memory."
