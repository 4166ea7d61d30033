"""Shared fixtures: every test runs with HF_HOME, the label cache and the token in its own tmp folder."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hubstub import USER as HUB_USER
from hubstub import HubStub

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a terminal gives it, in pytest and the programs the tests start: a shell without job control (a
    script's `pytest &`, some CI runners) starts a background command with SIGINT ignored, which its children
    inherit, so every test of what Ctrl-C does failed there (nothing was interrupted: exit 0, all rows written)."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's Hub cache, token or label cache."""
    home = tmp_path / "_hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("SXHUB_CACHE", str(tmp_path / "_sxhub_cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    # Ray Data 2.60's usage collector polls Prometheus (localhost:9090) from a thread that outlives the dataset and
    # logs each refused query at DEBUG through the root logger, into whichever later test reads caplog.
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)  # the cards link huggingface.co unless a test sets its Hub
    monkeypatch.delenv("SXHUB_TEACHER", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """One thread per test process: tiny models train in a second, and parallel jobs do not fight for cores."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(int(os.environ.get("SXHUB_TEST_THREADS", "1")))


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``sxhub`` in-process through its real entry point; returns (exit code, stdout, stderr)."""
    from sxhub.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def sxhub_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages sxhub's own loggers gave, in order. caplog also holds every other logger's records, at any level
    (``caplog.at_level(..., logger=...)`` does not filter them out): a library's thread left running by an earlier
    test (Ray Data's, after test_ray, logs at DEBUG) puts its lines there, in whichever test runs at that moment."""
    return [r.getMessage() for r in caplog.records if r.name == "sxhub" or r.name.startswith("sxhub.")]


OK_TWINS = [
    ("profit rose strongly this year", "positive"),
    ("record growth in sales", "positive"),
    ("strong gain for shareholders", "positive"),
    ("revenue up again", "positive"),
    ("a great quarter for the firm", "positive"),
    ("loss widened sharply", "negative"),
    ("sales fell hard", "negative"),
    ("weak demand cut margins", "negative"),
    ("layoffs announced today", "negative"),
    ("shares dropped on the news", "negative"),
]
LEAKED_TWIN = "Thanks @anna, mail anna@shop.com for the boots, love them"  # kept her handle and e-mail
CHANGED_TWIN = "That Zara coat on Oxford Street is awful"  # kept the brand and place, and lost the label
UNLABELLED_TWIN = "Ask @bob at Harrods about the order"  # written, kept a name, and its labelling failed


def twins_shaped(path: Path, n_ok: int = len(OK_TWINS)) -> Path:
    """A file as ``sxhub twins`` writes it (:func:`sxhub.twins.twin_columns`, plus the experts' ``expert`` column of
    the originals): ``n_ok`` twins that passed every check, then two that failed one (``ok`` false, the rows
    ``n_ok`` and ``n_ok + 1``: :data:`LEAKED_TWIN` and :data:`CHANGED_TWIN`; the experts disagree with both), then
    one failed (:data:`UNLABELLED_TWIN`, no label)."""
    import json

    import pandas as pd

    from sxhub.data import write_table

    def row(text: str, label: str | None, original_label: str, flags: list[str], leaked: list[str]) -> dict[str, Any]:
        votes = [{"teacher": "t", "sample": 0, "labels": [label] if label else None, "reason": ""}]
        return {
            "original": f"the original of: {text}",
            "text": text,
            "label": label,
            "original_label": original_label,
            "similarity": 0.9,
            "leaked": json.dumps(leaked),
            "shared_ngrams": 0,
            "label_kept": None if label is None else label == original_label,
            "flags": json.dumps(flags),
            "ok": not flags,
            "teacher": "t",
            "votes": json.dumps(votes),
            "agreement": 1.0 if label else None,
            "failed": label is None,
            "error": "" if label else "twin not labelled: timeout",
            "expert": original_label,
        }

    rows = [row(text, label, label, [], []) for text, label in OK_TWINS[:n_ok]]
    rows.append(row(LEAKED_TWIN, "positive", "negative", ["identity kept: @anna, anna@shop.com"], ["@anna"]))
    rows.append(row(CHANGED_TWIN, "negative", "positive", ["label changed (positive -> negative)"], ["Zara"]))
    rows.append(
        row(
            UNLABELLED_TWIN,
            None,
            "negative",
            ["identity kept: @bob", "label not checked (a labelling failed)"],
            ["@bob"],
        )
    )
    write_table(pd.DataFrame(rows), path)
    return path


# --- real components: skip locally, fail in CI ------------------------------------------------------------------


def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``, as GitHub Actions, GitLab CI and most others set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_component(reason: str) -> NoReturn:
    """A real component this test needs is absent: skip with ``reason`` locally, but FAIL under ``CI=true``.

    Every test of a real component (the llama.cpp teacher, chromium, AutoTrain, onnxruntime, ../shared/data, the
    MiniLM student) calls this instead of ``pytest.skip``, so a CI job that lost a component goes red instead of
    green with fewer tests run.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing component fails the test instead of skipping it)", pytrace=False)
    pytest.skip(reason)


def require_modules(*modules: str, install: str) -> None:
    """:func:`missing_component` unless every module in ``modules`` can be imported; ``install`` says how."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if absent:
        missing_component(f"{', '.join(absent)} not importable: {install}")


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless chromium (Debian's, driven through its chromedriver with selenium); absent, or selenium absent: skip
    locally, fail under CI=true. The Space's and the review app's browser tests share it."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.is_file():
            missing_component(f"{path} not installed: apt-get install -y {package} (or make chromium)")
    require_modules("selenium", install='pip install "sxhub[dev]"')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,1600",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # no driver download
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real expert-labelled data); absent: skip locally, fail in CI."""
    if not SHARED_DATA.is_dir():
        missing_component(f"../shared/data not found at {SHARED_DATA}: these tests read the real expert-labelled data")
    return SHARED_DATA


WORDS = [
    "profit",
    "rose",
    "fell",
    "loss",
    "sales",
    "growth",
    "bank",
    "shares",
    "market",
    "price",
    "cut",
    "raise",
    "dividend",
    "quarter",
    "year",
    "company",
    "net",
    "revenue",
    "decline",
    "increase",
    "strong",
    "weak",
    "record",
    "low",
    "high",
    "new",
    "product",
    "store",
    "shop",
    "buy",
    "cheap",
    "expensive",
    "sale",
    "discount",
    "ad",
    "campaign",
    "launch",
    "delivery",
    "online",
    "city",
    "open",
    "close",
    "good",
    "bad",
    "great",
    "terrible",
    "love",
    "hate",
    "the",
    "a",
    "of",
    "to",
    "in",
    "and",
    "for",
    "on",
    "with",
    "is",
    "was",
    "by",
    "from",
    "at",
    "as",
    "it",
    "this",
    "that",
    "we",
    "our",
    "their",
    "eur",
    "million",
    "percent",
]


def build_tiny_model(
    path: Path, *, num_labels: int = 3, seed: int = 0, cased: bool = False, words: Sequence[str] = ()
) -> Path:
    """A random 2-layer BERT with a word-level vocab built from WORDS and ``words`` (trains in a second on one
    thread); uncased as all-MiniLM-L6-v2 (lower-cased, accents stripped), or ``cased`` as BERT cased."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *words, *[f"w{i}" for i in range(40)]]
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 ignores vocab_file= (every word became [UNK]); pass the vocab itself
    vocab_ids = {token: i for i, token in enumerate(vocab)}
    tokenizer = BertTokenizerFast(vocab=vocab_ids, do_lower_case=not cased, model_max_length=128)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_deberta(path: Path) -> Path:
    """A random 2-layer DeBERTa (v1) classifier with the tiny BERT's tokenizer. transformers' DeBERTa attention fails
    under bfloat16 autocast: it fills the masked scores with float32's lowest value, which bf16 cannot hold."""
    import transformers

    folder = build_tiny_model(path)  # its tokenizer; the model is replaced by a DeBERTa
    for name in ("model.safetensors", "config.json"):
        (folder / name).unlink()
    config = transformers.DebertaConfig(
        vocab_size=len(transformers.AutoTokenizer.from_pretrained(folder)), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128, num_labels=3,
    )  # fmt: skip
    transformers.DebertaForSequenceClassification(config).save_pretrained(folder)
    return folder


def slow_tokenizer_copy(model_dir: Path, to: Path) -> Path:
    """A copy of ``model_dir`` whose tokenizer is a slow (Python) one, as models without a tokenizer.json ship
    (transformers 5's ``BertTokenizer`` is the fast one; its Python WordPiece is ``BertTokenizerLegacy``)."""
    from transformers import AutoTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    shutil.copytree(model_dir, to)
    fast = AutoTokenizer.from_pretrained(to)
    vocab = to / "vocab.txt"
    vocab.write_text("\n".join(sorted(fast.get_vocab(), key=fast.get_vocab().get)) + "\n", encoding="utf-8")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (to / name).unlink(missing_ok=True)
    BertTokenizerLegacy(str(vocab), model_max_length=fast.model_max_length).save_pretrained(to)
    assert not AutoTokenizer.from_pretrained(to).is_fast
    return to


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something is listening on for the test's length."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT base model folder (for train tests: ``--base`` points here)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


# --- Local Hub stand-in (tests/hubstub) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HubFixture:
    """What the ``hub`` fixture yields: the stub's base URL, the fake token in HF_TOKEN, its storage root."""

    url: str
    token: str
    root: Path
    stub: HubStub

    @property
    def user(self) -> str:
        """The user name ``whoami`` returns (repos created without a namespace land there)."""
        return HUB_USER


def _point_clients_at(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch the module constants huggingface_hub / datasets / transformers computed from the env at import."""
    import datasets.config as ds_config
    import huggingface_hub.hf_api as hf_api
    from huggingface_hub import constants

    host = url.split("//", 1)[1].split(":", 1)[0]
    for name, value in {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {host},
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,  # read at import: gradio's analytics would HEAD /api/telemetry/... here
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
    }.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", url)  # the HfApi behind huggingface_hub.upload_file & co
    import transformers.utils.hub as tf_hub

    # transformers keeps one HfApi, made with the endpoint of its first use: let it make a new one for this stub
    monkeypatch.setattr(tf_hub, "_hf_api", None)
    for name, value in {
        "HF_ENDPOINT": url,
        "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_CACHE_HOME": str(home),
        "HF_DATASETS_CACHE": home / "datasets",
        "HF_MODULES_CACHE": home / "modules",
        "DOWNLOADED_DATASETS_PATH": home / "datasets" / "downloads",
        "EXTRACTED_DATASETS_PATH": home / "datasets" / "downloads" / "extracted",
    }.items():
        monkeypatch.setattr(ds_config, name, value)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubFixture]:
    """A local Hub (tests/hubstub) on a free 127.0.0.1 port; every HF client in this process talks to it.

    HF_TOKEN holds a fake token (any ``Bearer`` token is accepted; delete HF_TOKEN to test "no token" paths, or set
    one starting with ``invalid`` to get a 401). Repos live as plain files under ``hub.root``; inspect them with
    ``hub.stub.list_files(repo_id, repo_type=...)`` / ``hub.stub.read_file(...)``.

    A request the stand-in has no route for (answered 404) fails the test at teardown, naming method and path: the
    stand-in must serve every call the code under test makes, or the 404 may hide a gap.
    """
    # huggingface_hub, datasets and transformers compute their constants from the environment when first imported:
    # imported after the setenv below (a test file run alone), they took the stand-in's URL as their default, which
    # monkeypatch then "restored" after the test, and every later test's cards linked the dead stand-in
    import datasets.config  # noqa: F401
    import huggingface_hub.constants
    import huggingface_hub.hf_api  # noqa: F401
    import transformers.utils.hub  # noqa: F401

    stub = HubStub(tmp_path / "_hub")
    url = stub.start()
    token = "hf_stub_token_0123456789"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    _point_clients_at(url, Path(os.environ["HF_HOME"]), monkeypatch)
    try:
        yield HubFixture(url=url, token=token, root=stub.root, stub=stub)
    finally:
        stub.stop()
    if stub.unrouted:
        pytest.fail(
            f"the Hub stand-in got {len(stub.unrouted)} request(s) it has no route for: "
            + "; ".join(stub.unrouted[:10])
            + " (add the route to tests/hubstub/server.py)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _fresh_server_detection() -> Iterator[None]:
    """sxhub detects a teacher server's kind once per URL and process; tests reuse ports for other kinds."""
    from sxhub.teachers.servers import forget_detected

    forget_detected()
    yield
    forget_detected()


@pytest.fixture
def parquet_columns_asked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``columns`` each ``pyarrow.parquet.read_table`` call asks for from now on (None: all of them)."""
    import pyarrow.parquet as pq

    asked: list[Any] = []
    real = pq.read_table

    def read_table(source: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("columns"))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_table)
    return asked


def corrupt_parquet_pages(path: Path, column_suffix: str) -> None:
    """Overwrite the data pages of the first row group's column whose path ends in ``column_suffix`` (a vote's
    ``.reason``), leaving every other column whole: a file damaged in one column only."""
    import pyarrow.parquet as pq

    group = pq.ParquetFile(path).metadata.row_group(0)
    (chunk,) = [
        group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema.endswith(column_suffix)
    ]
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\x07" * chunk.total_compressed_size
    path.write_bytes(bytes(data))
