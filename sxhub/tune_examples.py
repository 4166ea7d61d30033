"""The examples a synthetic model learns from (:mod:`sxhub.tune`'s first stage): a labelling example for every text,
with the prompt sxhub's teachers get and the JSON answer, and writing examples balanced over the labels, each asking
for a new text of a label (and a topic), answered with a real text of that label; and the held-out split.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from .errors import InputError
from .labelled import LabelledData
from .lora import ChatExample
from .spec import TaskSpec

MAX_WRITING_REPEATS = 2  # uses of one text per label in the writing examples (writing_picks)


def plain_spec(spec: TaskSpec) -> TaskSpec:
    """The spec without ``reasoning``, for the answers the model learns: they carry no reason (expert labels have
    none, and the tuned teacher scores answers without one). Never for the prompt: that stays the served one."""
    return spec if not spec.reasoning else TaskSpec.from_dict({**spec.to_dict(), "reasoning": False})


def text_topics(texts: Sequence[str]) -> list[str | None]:
    """Each text's most distinctive word or word pair (TF-IDF over ``texts``), or None when it has none."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), stop_words="english", min_df=2, max_df=0.5, token_pattern=r"(?u)\b[A-Za-z][A-Za-z-]{2,}\b"
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no term in two texts: no topic
        return [None] * len(texts)
    names = vectorizer.get_feature_names_out()
    topics: list[str | None] = []
    for row in range(matrix.shape[0]):
        values = matrix.getrow(row)
        topics.append(str(names[values.indices[values.data.argmax()]]) if values.nnz else None)
    return topics


def build_examples(
    spec: TaskSpec, texts: Sequence[str], labels: Sequence[Any], *, writing: float, topic_share: float, seed: int
) -> list[ChatExample]:
    """Labelling examples for every text, then ``round(writing * len(texts))`` writing examples balanced over the
    labels (:func:`writing_picks`; :mod:`sxhub.tune`'s docstring)."""
    from .generate_writer import examples_for, generation_messages
    from .prompt import answer_example, build_messages
    from .targets import same_text_key

    plain = plain_spec(spec)
    order = {name: i for i, name in enumerate(spec.label_names)}

    def as_list(value: Any) -> list[str]:
        names = [value] if isinstance(value, str) else list(value)
        return sorted(dict.fromkeys(names), key=order.__getitem__)

    examples = [  # the served prompt (a reasoning spec's asks for a reason), the answer that is scored (none)
        ChatExample("labelling", build_messages(spec, text), answer_example(plain, names), labels=tuple(names))
        for text, label in zip(texts, labels, strict=True)
        for names in [as_list(label)]
    ]
    rng = random.Random(seed)
    by_label = {name: [i for i, label in enumerate(labels) if name in as_list(label)] for name in spec.label_names}
    picks = writing_picks(by_label, round(writing * len(texts)), rng)
    if picks:
        topics = text_topics(texts)
        for k, (i, label) in enumerate(picks):
            topic = topics[i] if rng.random() < topic_share else None
            answer_key = same_text_key(texts[i])  # never the answer itself among the examples shown
            shown = [e for e in examples_for(spec.examples, label, 3, k) if example_key(spec, e.text) != answer_key]
            messages = generation_messages(spec, label, topic=topic, examples=shown, style="")
            answer = json.dumps({"text": texts[i]}, ensure_ascii=False)
            examples.append(ChatExample("writing", messages, answer, label=label))
    return examples


def writing_picks(by_label: dict[str, list[int]], n: int, rng: random.Random) -> list[tuple[int, str]]:
    """``n`` (text index, label) pairs for the writing examples, **balanced over the labels**: each label gets an
    equal share, so the writer learns to write the rare labels too (drawn in proportion to the data, 1,000
    PhraseBank texts gave 39 negative writing examples of 300, and the tuned writer asked for a negative text wrote
    one its teacher voted negative 10% of the time). A text is used at most ``MAX_WRITING_REPEATS`` times per label
    (more would teach the writer to copy it); a label that runs out leaves its share to the others, and ``n`` is
    capped by what the texts allow. In shuffled order."""
    pools = {name: rng.sample(rows, len(rows)) for name, rows in by_label.items() if rows}
    room = {name: MAX_WRITING_REPEATS * len(rows) for name, rows in pools.items()}
    quota = dict.fromkeys(pools, 0)
    left = min(n, sum(room.values()))
    while left > 0:  # water-filling: an equal share of what is left to every label with room
        open_ = [name for name in pools if quota[name] < room[name]]
        share = max(left // len(open_), 1)
        for name in open_:
            take = min(share, room[name] - quota[name], left)
            quota[name] += take
            left -= take
            if not left:
                break
    picks = [(rows[k % len(rows)], name) for name, rows in pools.items() for k in range(quota[name])]
    rng.shuffle(picks)
    return picks


def example_key(spec: TaskSpec, text: str) -> str:
    """A few-shot example's text as :func:`sxhub.targets.same_text_key` of the labelled texts :func:`sxhub.tune.tune`
    cleaned (the task's ``preprocess``, as annotate cleans them): the example "see https://..." is the text
    "see URL". Compared, never shown: the prompt shows the example as written."""
    from .data import preprocess_text
    from .targets import same_text_key

    return same_text_key(preprocess_text(text) if spec.preprocess else text.strip())


def split_heldout(
    data: LabelledData, holdout: float, seed: int, *, spec: TaskSpec | None = None
) -> tuple[list[int], list[int]]:
    """Stratified (train, held-out) row indices; no held-out rows for ``holdout=0``.

    The texts of ``spec``'s few-shot examples (up to case and spacing) stay on the training side where the other
    texts are enough to hold out: the prompt shows them with their labels, so a held-out one was scored with its
    answer in front of the model (examples are often taken from the labelled file), flattering the figures.
    ``data``'s texts are those :func:`sxhub.tune.tune` cleaned; the examples' are cleaned alike to compare."""
    from .targets import same_text_key, split_indices

    n = len(data.texts)
    if not holdout:
        return list(range(n)), []
    share = holdout if holdout < 1 else holdout / n
    if share >= 0.5:
        raise InputError(f"holdout={holdout} leaves too little to train on from {n} texts; hold out fewer.")
    shown = {example_key(spec, example.text) for example in spec.examples} if spec is not None else set()
    in_prompt = [same_text_key(text) in shown for text in data.texts] if shown else None
    return split_indices(data, val_size=share, seed=seed, trained_before=in_prompt)
