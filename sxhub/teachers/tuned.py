"""The tuned teacher: a synthetic model (the folder ``sxhub tune`` writes) served on this machine.

``--teacher DIR`` or ``teachers: [{model: DIR}]`` with a folder that holds ``sxhub.json`` from ``sxhub tune``.

**Why in-process transformers, not GGUF behind the embedded llama.cpp server.** Both were possible; this one was
chosen because:

* *Label scores need the probability of whole answers.* Scoring a label means the log-probability of the complete
  answer ``{"label": "neutral"}`` given the prompt. llama.cpp's OpenAI-compatible server returns the top-k
  log-probabilities of the tokens it *sampled*, not the probability of an arbitrary continuation, so every label would
  need its own completion request with a grammar forcing it, and the top-k would still cut off unlikely tokens. Here
  one forward pass over the text and a batched one over the candidate answers give the exact figures.
* *No converter ships installable.* ``convert_hf_to_gguf.py`` lives only in llama.cpp's source tree: neither the
  ``gguf`` wheel nor llama-cpp-python's wheel carries it, so converting would need a llama.cpp checkout (and a
  re-quantisation that moves the scores the held-out figures were measured with).
* *Small enough.* The 135M model runs in fp32 on two cores; the prompt part that every labelling request shares
  (system prompt and few-shot turns) is computed once and its key/value cache reused, so a text costs a forward pass
  over its own tokens and the answers only. Requests in flight together (the engine's ``concurrency``) are answered
  as one batch: their texts scored in one pass, their writing decoded in one loop.

**Valid by construction.** A labelling request (its schema has a ``label`` enum or a ``labels`` array of enums) is
answered by choosing among the valid answers only, never by free sampling: with ``temperature`` 0 the most probable
one, otherwise one drawn from the scores (``softmax(log p / temperature)``) with the request's seed and chat, so the votes of
``samples: N`` at ``temperature: 1`` estimate the model's own probabilities. A schema that asks for a ``reason`` gets
the scores as the reason. A writing request (a schema with one string property, as ``sxhub generate`` sends) is
answered by forcing the JSON opening ``{"text": "``, sampling the string's content up to its closing quote and
encoding it with ``json.dumps``. Any other schema is refused with a clear error.

**Scores.** :meth:`SyntheticModel.label_probs` (:mod:`sxhub.teachers.synthetic_model`, which holds the model, its
folder and its scoring and writing) gives per-label probabilities; every labelling reply carries them in
:attr:`Reply.scores`, and the annotate engine writes them into each vote (``scores``).

**Cache identity.** The sha256 of the weight files and of ``sxhub.json``, not the folder's path: a retuned model
never answers from a previous model's cache entries, and a moved folder still does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TeacherError, TeacherUnavailableError
from ..spec import TaskSpec, TeacherSpec
from .base import RejectedRequestError, Reply, Teacher
from .synthetic_folder import check_synthetic_model, content_hash, read_info
from .synthetic_model import (
    SyntheticModel,
    label_answer,
    learned_order,
    marginals,
    shared_model,
    softmax,
)
from .synthetic_writer import CutText, WriteJob

logger = logging.getLogger(__name__)

BATCH = 16  # requests of one kind answered together at most (writing: decoded together; labelling: scored together)
LOCAL_TIMEOUT = 3600.0  # seconds a request may wait for its turn and its answer
SCORER_VERSION = 4  # bump when the way answers are chosen or written changes: the cache identity names it (2: draws
# seeded with the chat, see draw_seed; 3: multi-label answers scored in the label order tune taught, learned_order;
# 4: a text cut at its token budget is the unclosed JSON it was, not a text: a cache of 3 replays it as one)


# ------------------------------------------------------------------------------------------------------------------
# requests: what a schema asks for
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelRequest:
    labels: tuple[str, ...]
    multi_label: bool
    wants_reason: bool


@dataclass(frozen=True)
class WriteRequest:
    key: str


def read_request(schema: dict[str, Any] | None) -> LabelRequest | WriteRequest:
    """What a request's answer schema asks for: a label choice or one written text; else RejectedRequestError."""
    props = (schema or {}).get("properties") or {}
    if "label" in props and isinstance(props["label"].get("enum"), list):
        return LabelRequest(tuple(props["label"]["enum"]), False, "reason" in props)
    items = (props.get("labels") or {}).get("items") or {}
    if isinstance(items.get("enum"), list):
        return LabelRequest(tuple(items["enum"]), True, "reason" in props)
    strings = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"]
    if len(props) == 1 and strings:
        return WriteRequest(strings[0])
    raise RejectedRequestError(
        "the tuned teacher answers sxhub's labelling and writing requests only; this request's answer schema is "
        f"neither: {json.dumps(schema)[:200]}",
        status=400,
        detail="unsupported answer schema",
    )


# ------------------------------------------------------------------------------------------------------------------
# the teacher
# ------------------------------------------------------------------------------------------------------------------
class TunedTeacher(Teacher):
    """A synthetic model folder behind the Teacher interface, served in-process (module docstring)."""

    server = "sxhub-tuned"
    enforced = "schema"  # answers are chosen among the valid ones or built with json.dumps
    request_form = "in-process"
    scores_labels = True
    rewrites = False  # it learned to label and to write new texts; twins' rewrite prompt is neither

    def __init__(self, spec: TeacherSpec, *, model: SyntheticModel | None = None) -> None:
        assert spec.model is not None
        # in-process requests queue behind each other on a busy CPU: allow them far longer than a server's answer
        self.spec = dataclasses.replace(spec, timeout=max(spec.timeout, LOCAL_TIMEOUT))
        self.folder = check_synthetic_model(spec.model)
        self.name = spec.name or f"tuned:{self.folder.resolve().name}"
        self._model = model
        self._learned = (read_info(self.folder) or {}).get("labels")  # the label order tune taught
        self._queue: list[tuple[WriteJob | LabelJob, asyncio.Future[Any]]] = []
        self._worker: asyncio.Task[None] | None = None

    def check_task(self, spec: TaskSpec) -> None:
        """A model tuned for other labels (or single- where the task is multi-label) scores this task's labels as
        answers it never learned: every text got a confident-looking label and the run exited 0. One error line."""
        info = read_info(self.folder) or {}
        labels, multi = info.get("labels"), info.get("multi_label")
        if not isinstance(labels, list):
            return  # a hand-made sxhub.json without the record: nothing to compare
        if set(labels) != set(spec.label_names) or bool(multi) != spec.multi_label:
            kind = {True: "multi-label", False: "single-label"}
            tuned_for = (info.get("task") or {}).get("name") if isinstance(info.get("task"), dict) else None
            raise TeacherUnavailableError(
                f"synthetic model {str(self.folder)!r} was tuned"
                + (f" for task {tuned_for!r}" if tuned_for else "")
                + f" with the {kind[bool(multi)]} labels {labels}, not this task's {kind[spec.multi_label]} labels "
                f"{spec.label_names}; pass the synthetic model tuned for this task, or tune one with `sxhub tune`."
            )

    def check_writer(self) -> None:
        """A model tuned with ``--writing 0`` (or on too few texts for one writing example) never learned sxhub
        generate's prompt: ``generate --writer DIR`` took it, and the teachers voted on the noise it wrote, exit 0.
        One error line; a hand-made ``sxhub.json`` without the count is let through."""
        info = read_info(self.folder) or {}
        if (info.get("train") or {}).get("n_writing") != 0:
            return
        share = (info.get("writing") or {}).get("share")
        raise TeacherUnavailableError(
            f"synthetic model {str(self.folder)!r} was tuned with no writing examples"
            + (f" (--writing {share:g})" if isinstance(share, (int, float)) else "")
            + ": it never learned to write texts; tune it again with --writing 1 (the default), or pass another "
            "--writer."
        )

    @property
    def identity(self) -> dict[str, Any]:
        """The folder's content (weights and sxhub.json) and the scorer version, not its path."""
        return {"name": self.name, "model": "sxhub-tuned", "content": content_hash(self.folder), "v": SCORER_VERSION}

    @property
    def cache_identity(self) -> dict[str, Any]:
        """The identity without the name (``tuned:<folder name>`` unless given): the weights decide the answers, so
        a renamed folder or teacher is answered from the cache."""
        return {k: v for k, v in self.identity.items() if k != "name"}

    @property
    def model(self) -> SyntheticModel:
        if self._model is None:
            self._model = shared_model(self.folder)
        return self._model

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        """Queue the request; the requests in flight together (the engine's concurrency) run as one batch."""
        request = read_request(schema)
        job: WriteJob | LabelJob
        if isinstance(request, WriteRequest):
            job = WriteJob(messages, request.key, temperature, seed, max_tokens)
        else:
            job = LabelJob(messages, request, temperature, seed)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # the requests sent together join this batch
            kind = type(self._queue[0][0])
            batch = [item for item in self._queue if type(item[0]) is kind][:BATCH]
            taken = {id(item) for item in batch}
            self._queue = [item for item in self._queue if id(item) not in taken]
            results: list[Any]
            try:
                results = await asyncio.to_thread(self.answer_batch, [job for job, _ in batch])
            except Exception as exc:  # every request of the batch gets the error (the engine retries or records it)
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def answer_batch(self, jobs: Sequence[WriteJob | LabelJob]) -> list[Reply | TeacherError]:
        """Replies to several requests of one kind (blocking; :meth:`acomplete` runs it in a thread)."""
        model = self.model
        if all(isinstance(job, WriteJob) for job in jobs):
            writes = model.write_batch([job for job in jobs if isinstance(job, WriteJob)])
            return [
                r if isinstance(r, TeacherError) else Reply(
                    text=r.reply, input_tokens=r.prompt_tokens, output_tokens=r.written_tokens
                ) if isinstance(r, CutText) else Reply(  # a text cut at its budget: the JSON as written, unclosed
                    text=json.dumps({job.key: r[0]}, ensure_ascii=False), input_tokens=r[1], output_tokens=r[2]
                )
                for job, r in zip(jobs, writes, strict=True)
                if isinstance(job, WriteJob)
            ]  # fmt: skip
        replies: dict[int, Reply | TeacherError] = {}
        labels = [(i, job) for i, job in enumerate(jobs) if isinstance(job, LabelJob)]
        groups: dict[tuple[tuple[str, ...], bool], list[tuple[int, LabelJob]]] = {}
        for i, job in labels:
            # a text longer than the model's context fails its own vote, not the batch (and so the run) beside it
            too_long = model.label_too_long(job.messages, job.request.labels, job.request.multi_label)
            if too_long is not None:
                replies[i] = too_long
                continue
            groups.setdefault((job.request.labels, job.request.multi_label), []).append((i, job))
        for (names, multi), members in groups.items():
            found = model.label_distributions(
                [job.messages for _, job in members], learned_order(self._learned, names, multi), multi
            )
            for (i, job), (sets, probs) in zip(members, found, strict=True):
                replies[i] = self._label_reply(job, sets, probs)
        return [replies[i] for i in range(len(jobs))]

    def answer(
        self,
        messages: list[dict[str, str]],
        request: LabelRequest | WriteRequest,
        *,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        """The reply to one request, blocking (:meth:`acomplete` batches concurrent ones)."""
        job: WriteJob | LabelJob
        if isinstance(request, WriteRequest):
            job = WriteJob(messages, request.key, temperature, seed, max_tokens)
        else:
            job = LabelJob(messages, request, temperature, seed)
        reply = self.answer_batch([job])[0]
        if isinstance(reply, TeacherError):
            raise reply
        return reply

    def _label_reply(self, job: LabelJob, sets: list[tuple[str, ...]], probs: list[float]) -> Reply:
        """The answer among the valid ones: the most probable at temperature 0, else drawn with the job's seed."""
        request = job.request
        if job.temperature <= 0:
            chosen = sets[max(range(len(sets)), key=probs.__getitem__)]
        else:
            weights = softmax([math.log(max(p, 1e-300)) for p in probs], job.temperature)
            chosen = random.Random(draw_seed(job.seed, job.messages)).choices(sets, weights=weights)[0]
        scores = marginals(sets, probs, request.labels)
        answer: dict[str, Any] = {}
        if request.wants_reason:
            shown = ", ".join(f"{name} {p:.2f}" for name, p in scores.items())
            answer["reason"] = f"label scores of the tuned model: {shown}"[:400]
        answer.update(json.loads(label_answer(chosen, request.multi_label)))
        text = json.dumps(answer, ensure_ascii=False)
        n_in = len(self.model.prompt_ids(job.messages)[0])
        return Reply(text=text, input_tokens=n_in, output_tokens=len(self.model.answer_ids(text)), scores=scores)


def draw_seed(seed: int, messages: list[dict[str, str]]) -> str:
    """The seed of one draw: the request's seed and its chat together. The engine gives sample ``s`` the same seed
    for every text (an LLM server mixes in the prompt itself); seeded alone, every text's sample ``s`` would take the
    same quantile of its scores, so the votes on a text would not be independent draws (``make demo-tuned``: 25
    three-way ties among 36 texts). A string seed is hashed with SHA-512 by :class:`random.Random`: the same in
    every process."""
    return f"{seed}:{hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()}"


@dataclass(frozen=True)
class LabelJob:
    """One labelling request: the chat, what the schema asks for, and how to choose."""

    messages: list[dict[str, str]]
    request: LabelRequest
    temperature: float
    seed: int
