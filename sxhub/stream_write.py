"""The writing stage of :mod:`sxhub.stream` (split out of it, which imports it): :class:`TableWriter` writes what
:func:`sxhub.tables.write_table` writes, one chunk at a time, so that the memory of ``annotate``, ``predict`` and
``insights`` does not grow with their output.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from .tables import arrow_table, csv_cells, csv_line_end, output_suffix, records_json, write_table


class TableWriter:
    """:func:`write_table` chunk by chunk, in bounded memory: every format streams.

    The chunks go to ``<path>.tmp``, moved into place by :meth:`close` (never a half-written output). The file
    equals what :func:`write_table` writes for all the chunks at once: the same CSV cells (CRLF line ends from the
    frame, here the chunk, that holds a carriage return: :func:`~sxhub.tables.csv_line_end`), JSON lines, the same
    indented JSON array; Parquet gets one row group per chunk, cast to ``schema`` when given (else the first
    chunk's). :meth:`abort` removes the temporary file.
    """

    def __init__(self, path: str | os.PathLike[str], *, schema: Any = None) -> None:
        self.path = Path(path)
        self.suffix = output_suffix(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.tmp.unlink(missing_ok=True)
        self.schema = schema
        self.rows = 0
        self._parquet: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        if len(frame) == 0 and self.rows:
            return
        if self.suffix in {".csv", ".tsv"}:
            cells = csv_cells(frame)
            sep = "\t" if self.suffix == ".tsv" else ","
            # the header once, with the first chunk written (one of no rows too: it was written again with the next)
            header = not self.tmp.exists()
            cells.to_csv(self.tmp, mode="a", header=header, index=False, sep=sep, lineterminator=csv_line_end(cells))
        elif self.suffix == ".jsonl":
            with self.tmp.open("a", encoding="utf-8") as fh:  # a chunk of no rows: no line (pandas writes a blank one)
                fh.write(records_json(frame, lines=True) if len(frame) else "")
        elif self.suffix == ".json":  # "[\n {...},\n {...}\n]": chunks are joined inside one array
            body = records_json(frame, lines=False)[2:-2]
            if body:
                with self.tmp.open("a", encoding="utf-8") as fh:
                    fh.write(("[\n" if not self.rows else ",\n") + body)
        else:
            self._write_parquet(frame)
        self.rows += len(frame)

    def write_arrow(self, table: Any) -> None:
        """A pyarrow Table chunk (Parquet: written as it is, cast to the schema; other formats via pandas)."""
        if self.suffix != ".parquet":
            self.write(pd.DataFrame(table.to_pylist(), columns=table.column_names))
            return
        self._write_parquet(table)
        self.rows += table.num_rows

    def _write_parquet(self, data: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = data if isinstance(data, pa.Table) else arrow_table(data, self.path)
        if self._parquet is None:
            self.schema = self.schema or table.schema
            self._parquet = pq.ParquetWriter(self.tmp, self.schema)
        self._parquet.write_table(table.select(self.schema.names).cast(self.schema))

    def close(self) -> Path:
        if self._parquet is not None:
            self._parquet.close()
        if self.suffix == ".json":
            with self.tmp.open("a", encoding="utf-8") as fh:
                fh.write("\n]" if self.rows else "[]")
        elif not self.tmp.exists():  # no chunk at all: an empty table
            return write_table(pd.DataFrame(), self.path)
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)
