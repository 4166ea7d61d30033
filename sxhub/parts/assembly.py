"""Assembling OUT from the parts: the shards' parts merged in input order, duplicates across shards dropped, the
votes decided again when the task weighs teachers (Dawid-Skene needs every vote), and the vote counts that add up
across chunks (:class:`VoteTotals`; ``sxhub.vote.summarize`` gives means, which do not).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..spec import TaskSpec
from ..stream import TableWriter
from ..tables import parquet_errors, table_suffix
from ..vote import Decision
from .layout import ROW, ShardState, parts_file, shard_dir, text_hash


# ------------------------------------------------------------------------------------------------------------------
# vote counts that add up across chunks (summarize() gives means, which do not)
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class VoteTotals:
    n: int = 0
    decided: int = 0
    ties: int = 0
    unanimous: int = 0
    sum_agreement: float = 0.0
    min_agreement: float | None = None
    sum_valid: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, decisions: Sequence[Decision], sign: int = 1) -> VoteTotals:
        decided = [d for d in decisions if not d.failed]
        shares = [d.mean_agreement for d in decided]
        counts: Counter[str] = Counter()
        for d in decided:
            counts.update(d.labels if d.labels is not None else [d.label] if d.label is not None else [])
        return cls(
            n=sign * len(decisions),
            decided=sign * len(decided),
            ties=sign * sum(d.tie for d in decided),
            unanimous=sign * sum(share == 1.0 for share in shares),
            sum_agreement=sign * float(sum(shares)),
            min_agreement=min(shares) if shares and sign > 0 else None,
            sum_valid=sign * sum(d.n_valid for d in decisions),
            label_counts={k: sign * v for k, v in counts.items()},
        )

    def add(self, other: VoteTotals | dict[str, Any]) -> None:
        other = other if isinstance(other, VoteTotals) else VoteTotals(**other)
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "label_counts":
                merged = Counter(mine)
                merged.update(theirs)
                self.label_counts = {k: v for k, v in merged.items() if v}
            elif f.name == "min_agreement":
                known = [v for v in (mine, theirs) if v is not None]
                self.min_agreement = min(known) if known else None
            else:
                setattr(self, f.name, mine + theirs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The same keys as :func:`sxhub.vote.summarize`."""
        return {
            "n": self.n,
            "decided": self.decided,
            "failed": self.n - self.decided,
            "ties": self.ties,
            "tie_rate": self.ties / self.decided if self.decided else 0.0,
            "unanimous": self.unanimous,
            "mean_agreement": self.sum_agreement / self.decided if self.decided else None,
            "min_agreement": self.min_agreement,
            "mean_valid_votes": self.sum_valid / self.n if self.n else 0.0,
            "label_counts": dict(self.label_counts),
        }


# ------------------------------------------------------------------------------------------------------------------
# assembling OUT from the parts
# ------------------------------------------------------------------------------------------------------------------
def _parts_in_order(folder: Path) -> list[Path]:
    state = ShardState(folder)
    try:
        return [folder / part for _, (part, _) in sorted(state.chunks().items()) if part]
    finally:
        state.close()


def _tables(paths: list[Path], schema: Any) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in paths:
        with parts_file(path):
            table = pq.read_table(path)
        if table.schema.remove_metadata().equals(schema):
            yield table.replace_schema_metadata(None)
            continue
        try:
            yield table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Arrow cannot cast a list of structs with a null-typed field (a part where every vote failed: its
            # `labels` are all null), not even to its own type; rebuilt from its rows, it takes the schema
            yield pa.Table.from_pylist(table.to_pylist(), schema=schema)


def _merged(shards: list[list[Path]], schema: Any) -> Iterator[Any]:
    """Tables of rows in input order (by ROW) from shards whose parts are each in input order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(shards) == 1:
        yield from _tables(shards[0], schema)
        return
    sources = [_tables(paths, schema) for paths in shards]
    current: list[Any] = [next(src, None) for src in sources]
    while any(t is not None for t in current):
        bound = min(t[ROW][-1].as_py() for t in current if t is not None)
        taken = []
        for i, table in enumerate(current):
            if table is None:
                continue
            n = int(pc.sum(pc.less_equal(table[ROW], bound)).as_py() or 0)
            if n:
                taken.append(table.slice(0, n))
            rest = table.slice(n)
            current[i] = rest if rest.num_rows else next(sources[i], None)
        yield pa.concat_tables(taken).sort_by(ROW)


@dataclass
class Assembled:
    """What :func:`assemble` wrote: rows, duplicates dropped across shards, failed rows, and the vote counts to
    add to the chunks' (``fix``: the dropped rows taken off) or to use instead (``votes``: Dawid-Skene decided);
    ``json_columns``: a CSV/TSV OUT's list and dict columns, whose cells are JSON text there (the ledger records
    them, :func:`sxhub.tables.ledger_json_columns`)."""

    written: int = 0
    dropped: int = 0
    failed: int = 0
    fix: VoteTotals = field(default_factory=VoteTotals)
    votes: VoteTotals | None = None
    json_columns: list[str] = field(default_factory=list)


KEPT_TYPES_FIX = (
    "annotate keeps its parts in Parquet whatever OUT is, so give the column one type in the input (e.g. every id "
    "as text), or leave it out of --keep-column (Python: keep_columns=)"
)


def assemble(parts: Path, out: Path, spec: TaskSpec, *, shards: int) -> Assembled:
    """Write OUT from the parts of every shard, in input order; a text already written is dropped (a duplicate
    across shards: each shard drops its own)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ordered = [_parts_in_order(shard_dir(parts, i, shards)) for i in range(shards)]
    every = [p for paths in ordered for p in paths]
    if not every:
        raise InputError(f"no row of the input had a text to label (see {parts}); check --text-column and the slice.")
    schemas = []
    for path in every:
        with parts_file(path):
            schemas.append(pq.read_schema(path))
    with parquet_errors(out, fix=KEPT_TYPES_FIX, where=f"{out.name} (--keep-column)"):  # shards typed it apart
        schema = pa.unify_schemas(schemas, promote_options="permissive").remove_metadata()
    final = pa.schema([f for f in schema if f.name != ROW])
    decisions = _decide_all(ordered, schema, spec) if getattr(spec, "vote", "majority") != "majority" else None
    done = Assembled(votes=VoteTotals.of(decisions) if decisions is not None else None)
    if table_suffix(out) in {".csv", ".tsv"}:  # lists and dicts there are JSON text: a kept column of lists too
        done.json_columns = [f.name for f in final if pa.types.is_nested(f.type)]
    seen = _SeenSet(parts / "assemble-seen.sqlite") if shards > 1 else None
    writer = TableWriter(out, schema=final)
    try:
        for table in _merged(ordered, schema):
            if seen is not None:
                keep = seen.first_times(table["text"].to_pylist())
                if not all(keep):
                    gone = table.filter(pa.array([not k for k in keep]))
                    done.dropped += gone.num_rows
                    done.fix.add(VoteTotals.of(_majority_of(gone, spec), sign=-1))
                    table = table.filter(pa.array(keep))
            table = table.drop_columns([ROW])
            if decisions is not None:
                table = _with_decisions(table, decisions[done.written : done.written + table.num_rows], spec, final)
            done.failed += int(pc.sum(table["failed"]).as_py() or 0)
            writer.write_arrow(table)
            done.written += table.num_rows
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if seen is not None:
            seen.close()
    return done


def _majority_of(table: Any, spec: TaskSpec) -> list[Decision]:
    from ..reliability import decide_all

    return decide_all(table["votes"].to_pylist(), spec.label_names, spec.multi_label)


def _decide_all(ordered: list[list[Path]], schema: Any, spec: TaskSpec) -> list[Decision]:
    """Dawid-Skene weighs each teacher by all its votes: the one step that holds every vote in memory."""
    from ..reliability import decide_all

    votes: list[Any] = []
    seen: set[str] = set()
    for table in _merged(ordered, schema):
        for text, cell in zip(table["text"].to_pylist(), table["votes"].to_pylist(), strict=True):
            if text not in seen:
                seen.add(text)
                votes.append(cell)
    return decide_all(votes, spec.label_names, spec.multi_label, method=spec.vote)  # type: ignore[attr-defined]


def _with_decisions(table: Any, decisions: list[Decision], spec: TaskSpec, schema: Any) -> Any:
    import pyarrow as pa

    values = {
        spec.label_column: [d.labels if spec.multi_label else d.label for d in decisions],
        "agreement": [d.agreement for d in decisions],
        "failed": [d.failed for d in decisions],
        "error": [d.error for d in decisions],
    }
    for name, column in values.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array(column, type=schema.field(name).type))
    return table


class _SeenSet:
    """Texts written so far (hashes on disk: memory stays flat)."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (h BLOB PRIMARY KEY)")

    def first_times(self, texts: list[str]) -> list[bool]:
        keep = []
        self._db.execute("BEGIN")
        for text in texts:
            cur = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (text_hash(text),))
            keep.append(cur.rowcount == 1)
        self._db.execute("COMMIT")
        return keep

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)
