"""Where a run in parts keeps its files and what it has done: the folder layout (``OUT.parts/``, one folder per
shard), the manifest of the run's parameters that a rerun must match, and each shard's state (chunks done, hashes of
the texts seen) in one sqlite file. The layout itself is drawn in :mod:`sxhub.parts`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..cache import CACHE_FILE
from ..errors import UserError, one_line
from ..locks import try_lock
from ..spec import TaskSpec, TeacherSpec
from ..stream import RowSlice
from ..teachers import Teacher

logger = logging.getLogger(__name__)

ROW = "__sxhub_row"  # the row's position in the input, kept in the parts to merge shards in input order
CHARS = "__sxhub_chars"  # a text's length as written, while a chunk is prepared (--max-chars); never in a part
CHUNK_ROWS = 1000
MANIFEST = "manifest.json"
STATE = "state.sqlite"
LOCK = "lock"


def parts_dir(out: str | os.PathLike[str]) -> Path:
    """``OUT.parts/`` beside OUT."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def shard_dir(parts: Path, index: int, count: int) -> Path:
    return parts / f"shard-{index:05d}-of-{count:05d}"


@contextmanager
def parts_file(file: Path) -> Iterator[None]:
    """Reading ``file`` of ``OUT.parts/`` (the manifest, a shard's state, a part): a damaged or missing one is one line
    that names it and the fix, --restart. A truncated part, a state file that is not sqlite or a manifest cut short stopped the
    rerun in "Error: ArrowInvalid: Parquet magic bytes not found in footer" (or "DatabaseError: file is not a
    database", "JSONDecodeError: ..."), naming neither the file nor a way on."""
    import pyarrow as pa

    try:
        yield
    except sqlite3.OperationalError:  # locked, busy: not damage
        raise
    except FileNotFoundError as exc:  # a part that the shard's state lists, deleted since
        raise UserError(
            f"{file} is missing; rerun with --restart to start over (the label cache keeps every answer, so they "
            "are not paid again)."
        ) from exc
    except (sqlite3.DatabaseError, json.JSONDecodeError, pa.ArrowInvalid) as exc:
        raise UserError(
            f"{file} is damaged ({one_line(str(exc)) or type(exc).__name__}); rerun with --restart to start over "
            "(the label cache keeps every answer, so they are not paid again)."
        ) from exc


# ------------------------------------------------------------------------------------------------------------------
# one run at a time
# ------------------------------------------------------------------------------------------------------------------
@contextmanager
def locked(parts: Path, out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive lock of ``parts`` while the block runs, or refuse at once with one line.

    Two runs writing one OUT paid the same texts twice and their ledgers each counted the other's answers as
    cached. The lock is ``flock`` on ``OUT.parts/lock`` (on NFS, Linux takes it on the server): the system drops it
    when the process ends, however it ends, so a killed run leaves a file that blocks nothing. The file is never
    deleted (not by --restart either): a run waiting on a deleted file would lock a file nobody else sees."""
    parts.mkdir(parents=True, exist_ok=True)
    handle = open(parts / LOCK, "a+b")  # noqa: SIM115 - held open for the whole block: closing it unlocks
    try:
        if not try_lock(handle):
            raise UserError(
                f"another sxhub annotate is writing {out} ({parts.name}/ is locked); wait for it or use another -o."
            )
        yield
    finally:
        handle.close()


# ------------------------------------------------------------------------------------------------------------------
# the manifest: what decides the output
# ------------------------------------------------------------------------------------------------------------------
def input_identity(source: str) -> dict[str, Any]:
    """The input as the manifest records it: a file's path, size and modification time, or a Hub id."""
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"hub": source}


def template_file_identity(spec: TaskSpec) -> dict[str, Any] | None:
    """A ``prompt_template`` given as a file, by the hash of what it holds: the spec records only its path, so an
    edited template would have resumed into parts written with the old prompt."""
    import hashlib

    from ..prompt import TEMPLATE_SUFFIXES

    source = (spec.prompt_template or "").strip()
    if not source.endswith(TEMPLATE_SUFFIXES) or "\n" in source:
        return None
    path = Path(source).expanduser()
    if not path.is_file():
        return None
    return {"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def make_manifest(
    spec: TaskSpec,
    source: str,
    *,
    teachers: Sequence[Any],
    samples: int,
    rows: RowSlice,
    split: str,
    text_column: str | None,
    keep_columns: Sequence[str],
    preprocess: bool,
    max_chars: int,
    chunk_rows: int,
    shards: int,
    max_invalid: int,
    seed: int,
) -> dict[str, Any]:
    return {
        "version": 1,
        "spec": labelling_spec(spec.to_dict()),
        "teachers": [_teacher_key(t) for t in teachers],
        "samples": samples,
        "seed": seed,
        "max_invalid": max_invalid,
        "input": input_identity(source),
        **({"prompt_template_file": file} if (file := template_file_identity(spec)) else {}),
        "split": split,
        "rows": rows.to_dict(),
        "text_column": text_column,
        "keep_columns": list(keep_columns),
        "preprocess": preprocess,
        "max_chars": max_chars,
        "chunk_rows": chunk_rows,
        "shards": shards,
        **({"sharding": "text-hash"} if shards > 1 else {}),  # every copy of a text in one shard (sxhub.distributed)
        **({"prompt": prompt_identity(spec)} if spec.prompt_template else {}),
    }


# The spec's fields that decide the labels in the parts: what the prompt, the answer schema and the request's
# sampling are made of (the label cache's key holds the same: messages, schema, temperature). The teachers' identity
# and max_tokens are the manifest's ``teachers``; samples, seed and preprocessing have keys of their own. The rest
# changes no label in a part: the name, language, license and card text (cards), the teachers' prices and timeouts
# (the bill, the wait), and ``vote`` (votes are kept in the parts and decided again when OUT is assembled).
LABELLING_FIELDS = ("description", "labels", "multi_label", "examples", "reasoning", "temperature", "prompt_template")


def labelling_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The fields of a spec (as ``TaskSpec.to_dict`` writes it) that decide the labels; a manifest written with the
    whole spec (before) is compared by these too."""
    return {key: spec.get(key) for key in LABELLING_FIELDS}


def prompt_identity(spec: TaskSpec) -> str:
    """A ``prompt_template`` may use any field of the spec (``spec.language``...): the sha256 of the messages it
    renders for one fixed text, so that such a field, edited, does not resume into parts asked with the old prompt."""
    from ..prompt import build_messages

    return _messages_identity(build_messages(spec, PROMPT_PROBE))


PROMPT_PROBE = "\u2063sxhub manifest probe\u2063"  # the fixed text prompt_identity renders the template for


def prompt_identity_before_nfc(spec: TaskSpec) -> str:
    """:func:`prompt_identity` as sxhub wrote it before it sent every message in NFC (1681465): the template's
    output as rendered. A spec whose own text (description, examples, the template) is in NFD renders other messages
    now, so a run started before that upgrade is resumed when its manifest holds this (:func:`check_manifest`); the
    label cache keys requests in NFC, so its answers are the same ones."""
    from ..prompt import render_template

    return _messages_identity([{"role": "user", "content": render_template(spec, PROMPT_PROBE)}])


def _messages_identity(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _teacher_key(teacher: Any) -> Any:
    if isinstance(teacher, Teacher):
        return teacher.identity
    spec = TeacherSpec.parse(teacher)
    return {k: v for k, v in asdict(spec).items() if k not in {"timeout", "price_input", "price_output"}}


def check_manifest(
    parts: Path, manifest: dict[str, Any], *, restart: bool, out: Path, prompt_before_nfc: str | None = None
) -> None:
    """Start ``parts`` (or start it over with ``restart``), or check that its parts were made with ``manifest``.
    ``prompt_before_nfc`` (:func:`prompt_identity_before_nfc`): the manifest's ``prompt`` as a run started before
    the messages were sent in NFC wrote it, taken for this one's (and the manifest written again with it)."""
    file = parts / MANIFEST
    orphans = not file.is_file() and any(parts.glob(f"shard-*/{STATE}"))
    if orphans and not restart:
        # a --restart cut short after the manifest went, or the file deleted by hand: the parts were resumed as if
        # made with this run's parameters, and a spec edited since got the old spec's labels, asking nothing
        raise UserError(
            f"{parts}/ holds parts but no {MANIFEST} (a --restart cut short, or the file deleted), so what they were "
            "labelled with is unknown: add --restart to start over (the label cache keeps every answer)."
        )
    if (file.is_file() or orphans) and restart:
        _remove_parts(parts)
    if file.is_file():
        with parts_file(file):
            found = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(found.get("spec"), dict):
            found["spec"] = labelling_spec(found["spec"])
        now = json.loads(json.dumps(manifest, sort_keys=True, default=str))  # as the file holds it
        if "prompt" not in found:  # written before manifests held the rendered prompt: compared without it
            now.pop("prompt", None)
        raised = _raised_max_chars(found, now)
        if prompt_before_nfc and found.get("prompt") == prompt_before_nfc != now.get("prompt"):
            found["prompt"] = now["prompt"]  # the same template and spec; only the NFC the messages are sent in
            raised = True  # the manifest is written again with today's identity
        if found != now and not any(parts.glob("shard-*/part-*.parquet")):
            # an earlier run that labelled nothing (a teacher URL with a typo, a server not up yet, a missing
            # extra): nothing to resume, so the corrected rerun starts over instead of being told to --restart
            logger.info("%s/ held an earlier run that labelled nothing; starting over.", parts)
            _remove_parts(parts)
        elif found != now:
            what, there, here = _difference(found, now)
            raise UserError(
                f"{parts}/ holds the parts of an earlier run of {out.name} with another {what} "
                f"({there} there, {here} now): rerun with the same parameters to resume it, or add --restart to "
                "start over (the label cache keeps every answer)."
            )
        elif not raised:
            return
    parts.mkdir(parents=True, exist_ok=True)
    tmp = parts / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, file)


def _raised_max_chars(found: dict[str, Any], now: dict[str, Any]) -> bool:
    """Take a raised ``max_chars`` as the recorded one (True when it was raised): the parts' labelled texts are
    within the old limit, so within the new one, and the rows over the old one, failed unasked, are asked by this
    rerun (:meth:`ShardState.failed_chunks`). A rerun with the limit raised, as those rows' error says, was refused
    for another max_chars (--restart relabelled every chunk). A lowered limit still needs --restart."""
    before, after = found.get("max_chars"), now.get("max_chars")
    if isinstance(before, int) and isinstance(after, int) and before < after:
        found["max_chars"] = after
        return True
    return False


def _difference(found: dict[str, Any], now: dict[str, Any]) -> tuple[str, str, str]:
    """What differs between two manifests, named as precisely as it can be: a field of the spec (``labels``, down
    to the one label), a key of one teacher, or another parameter, with excerpts of both values that show the
    difference (two long values cut at the same place read the same)."""
    keys = sorted(set(found) | set(now), key=lambda k: (k == "prompt", k))  # a template's output: named last
    key = next(k for k in keys if found.get(k) != now.get(k))
    there, here = found.get(key), now.get(key)
    if key == "prompt":
        return (
            "prompt (the prompt_template renders other messages: a field of the spec it uses changed)",
            _short(there),
            _short(here),
        )
    if key == "spec" and isinstance(there, dict) and isinstance(here, dict):
        path, there, here = _first_difference(there, here)
        if path == "labels" and isinstance(there, list) and isinstance(here, list):  # by name: what a user edits
            names = [[lab.get("name") if isinstance(lab, dict) else lab for lab in v] for v in (there, here)]
            if names[0] != names[1]:
                there, here = names
        a, b = _excerpts(there, here)
        return "spec", f"{path}: {a}", b
    if key == "teachers" and isinstance(there, list) and isinstance(here, list) and len(there) == len(here):
        for old, new in zip(there, here, strict=True):
            if old != new and isinstance(old, dict) and isinstance(new, dict):
                path, a, b = _first_difference(old, new)
                return f"{path} of teacher {new.get('name') or old.get('name')!r}", *_excerpts(a, b)
    return key, *_excerpts(there, here)


def _first_difference(there: Any, here: Any, path: str = "") -> tuple[str, Any, Any]:
    """The path (``labels[2].description``) of the first place where two JSON values differ, and the values there."""
    if isinstance(there, dict) and isinstance(here, dict):
        for key in sorted(set(there) | set(here)):
            if there.get(key) != here.get(key):
                return _first_difference(there.get(key), here.get(key), f"{path}.{key}" if path else key)
    if isinstance(there, list) and isinstance(here, list) and len(there) == len(here):
        for i, (a, b) in enumerate(zip(there, here, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return path or "value", there, here


def _excerpts(there: Any, here: Any, width: int = 60) -> tuple[str, str]:
    """Both values as JSON, each cut to ``width`` characters around the first character where they differ."""
    a, b = (json.dumps(v, sort_keys=True, default=str, ensure_ascii=False) for v in (there, here))
    if len(a) <= width and len(b) <= width:
        return a, b
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(0, at - width // 3)

    def cut(text: str) -> str:
        piece = text[start : start + width]
        return ("..." if start else "") + piece + ("..." if start + width < len(text) else "")

    return cut(a), cut(b)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _remove_parts(parts: Path) -> None:
    import shutil

    if not (parts / MANIFEST).is_file() and not any(parts.glob(f"shard-*/{STATE}")):
        raise UserError(f"{parts} has no {MANIFEST}: it is not an sxhub parts folder; move it away first.")
    (parts / MANIFEST).unlink(missing_ok=True)  # first: a removal cut short leaves parts no run resumes unasked
    for entry in parts.iterdir():
        if entry.name == LOCK:  # held by this run (:func:`locked`)
            continue
        if entry.is_dir() and not entry.is_symlink() and entry.name.startswith("shard-"):
            for item in entry.iterdir():  # a shard's label cache (--engine ray) stays: its answers were paid for
                if not item.name.startswith(CACHE_FILE):
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def kept_caches(folder: Path) -> list[Path]:
    """The label caches in ``OUT.parts/`` that a shard (``folder``) reads besides its own: those of the shards of
    an earlier run (kept by --restart; another number of shards, or --engine ray before the one-process engine),
    not those of the shards running beside it, which hold other texts and are being written."""
    match = re.fullmatch(r"shard-\d+-of-(\d+)", folder.name)
    count = int(match.group(1)) if match else 1
    beside = {shard_dir(folder.parent, i, count) for i in range(count)} - {folder}
    return sorted(f for f in folder.parent.glob(f"shard-*/{CACHE_FILE}") if f.parent not in beside)


def settle_caches(parts: Path) -> None:
    """Before any shard runs (under the run's lock: nothing writes them), the shards' caches in rollback-journal
    mode, so that shards of this run on any node can read the earlier ones read-only (:func:`kept_caches`)."""
    from ..cache import settle

    for file in parts.glob(f"shard-*/{CACHE_FILE}"):
        settle(file)


# ------------------------------------------------------------------------------------------------------------------
# one shard's state
# ------------------------------------------------------------------------------------------------------------------
class ShardState:
    """Chunks done (with their counts and ledger) and hashes of the texts labelled, in one sqlite file."""

    def __init__(self, folder: Path, max_chars: int | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.max_chars = max_chars  # this run's --max-chars: chunks with texts an earlier one left out are relabelled
        self._db = sqlite3.connect(folder / STATE, timeout=60, isolation_level=None)
        with parts_file(folder / STATE):
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS chunks (idx INTEGER PRIMARY KEY, part TEXT, stats TEXT)")
            self._db.execute("CREATE TABLE IF NOT EXISTS seen (h BLOB PRIMARY KEY)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")

    def chunks(self) -> dict[int, tuple[str | None, dict[str, Any]]]:
        with parts_file(self.folder / STATE):
            rows = self._db.execute("SELECT idx, part, stats FROM chunks ORDER BY idx").fetchall()
            return {int(i): (part, json.loads(stats)) for i, part, stats in rows}

    def seen_among(self, hashes: Sequence[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(hashes), 500):
            batch = hashes[start : start + 500]
            marks = ",".join("?" * len(batch))
            found.update(r[0] for r in self._db.execute(f"SELECT h FROM seen WHERE h IN ({marks})", batch))
        return found

    def commit(self, idx: int, part: str | None, stats: dict[str, Any], hashes: Sequence[bytes]) -> None:
        """Record chunk ``idx`` and its texts' hashes, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?)", (idx, part, json.dumps(stats, default=str))
            )
            self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", [(h,) for h in hashes])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def failed_chunks(self) -> set[int]:
        """Chunks holding votes that got no answer (a server down, a rate limit that outlasted the retries: one of
        two teachers down leaves its rows labelled by the other alone; :func:`~sxhub.annotate_engine.unanswered`)
        or texts a teacher refused as too long for its context window (``too_long_rows``: the server may have been
        restarted with a longer context since, and a rerun that did not ask them needed --restart or a new OUT):
        a rerun labels them again, as the in-memory engine asks failed votes again; the label cache answers the
        votes that succeeded, so only the failed votes are asked. Rows that failed on invalid answers are not:
        the cache replays the same answers (a chunk recorded before unanswered votes were counted is labelled again
        when it has failed rows). Nor are rows over ``--max-chars`` (``over_max_chars_rows``, never asked), unless
        this run's ``max_chars`` lets the shortest of them in: a rerun with the limit raised asks them."""
        return {
            idx
            for idx, (_, stats) in self.chunks().items()
            if (stats["unanswered_votes"] if "unanswered_votes" in stats else failed_rows(stats))
            or stats.get("too_long_rows")
            or (
                self.max_chars is not None
                and stats.get("over_max_chars_rows")
                and int(stats.get("over_max_chars_shortest") or 0) <= self.max_chars
            )
        }

    def check_teachers(self, identities: list[Any], out: str) -> None:
        """Record the identities of the teachers that label this shard (a teacher given by URL only with the model
        its server lists), or check that they are the recorded ones. The manifest holds the teachers' specs only:
        a URL-only teacher's server restarted with another model between a run and its resume would have added
        that model's labels to the first one's."""
        now = json.loads(json.dumps(identities, sort_keys=True, default=str))
        row = self._db.execute("SELECT v FROM meta WHERE k = 'teachers'").fetchone()
        if row is None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('teachers', ?)", (json.dumps(now, sort_keys=True),))
            return
        found = json.loads(row[0])
        if found == now:
            return
        what = "teachers"
        for there, here in zip(found, now, strict=False):
            if there != here and isinstance(there, dict) and isinstance(here, dict):
                key = next(k for k in sorted(set(there) | set(here)) if there.get(k) != here.get(k))
                name = here.get("name") or there.get("name")
                found, now, what = there.get(key), here.get(key), f"{key} of teacher {name!r}"
                break
        raise UserError(
            f"{self.folder.parent}/ holds the parts of an earlier run of {out} with another {what} "
            f"({_short(found)} there, {_short(now)} now): rerun with the same teacher (a server given by URL only "
            "serving the same model) to resume it, or add --restart to start over (the label cache keeps every "
            "answer)."
        )

    @property
    def complete(self) -> bool:
        """Every chunk labelled, none with failed rows: nothing for a rerun to ask."""
        marked = self._db.execute("SELECT v FROM meta WHERE k = 'complete'").fetchone() is not None
        return marked and not self.failed_chunks()

    def mark_complete(self) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('complete', ?)", (str(time.time()),))

    def close(self) -> None:
        self._db.close()


def failed_rows(stats: dict[str, Any]) -> int:
    """How many rows of a chunk failed, from its recorded vote totals (decided by majority in every chunk)."""
    votes = stats.get("votes") or {}
    return int(votes.get("n", 0)) - int(votes.get("decided", 0))


def chunk_answers(votes: Iterable[Sequence[dict[str, Any]]], ledgers: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Each teacher's answers in a chunk, from the cache or its server: its valid votes plus its invalid answers
    (each reply is one or the other). A later run reads them from the part, as it would read cached answers."""
    answers = {name: int(led.get("invalid_answers") or 0) for name, led in ledgers.items()}
    for row in votes:
        for vote in row:
            if vote.get("labels") is not None:
                answers[vote["teacher"]] = answers.get(vote["teacher"], 0) + 1
    return answers


def text_hash(text: str) -> bytes:
    """The key of a text among those seen (duplicates across chunks and shards): its NFC form's, so that one text
    in two Unicode spellings is one text (:func:`sxhub.data.one_spelling`)."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
