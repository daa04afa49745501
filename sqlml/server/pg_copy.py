"""COPY ... TO STDOUT and COPY ... FROM STDIN: the statement's parts and PostgreSQL's text
and csv formats.

Rows going out are written a column at a time with Arrow (the values' text as the server
sends it, then the format's escaping or quoting, then the columns joined), never a value
at a time in Python. Rows coming in are spooled to a file that DuckDB's CSV reader loads,
every value read as text and cast by the INSERT to the table's types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sqlml.server import encoding
from sqlml.server.pg_types import ColumnType
from sqlml.server.protocol import SqlError

_COPY = re.compile(r"\s*COPY\b", re.IGNORECASE)
# COPY t FROM STDIN (FORMAT csv): sqlglot reads the options only after WITH.
_BARE_OPTIONS = re.compile(r"\b(STDIN|STDOUT)\s*\(", re.IGNORECASE)
_BOOLEAN = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}


@dataclass
class CopyOptions:
    csv: bool = False
    header: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'
    escape: str = '"'


@dataclass
class CopyStatement:
    """COPY's target (a table, or a query for TO), its columns, direction and format."""

    source: str  # DuckDB SQL: a table's name or a query
    is_query: bool
    columns: list[str] = field(default_factory=list)
    to_client: bool = True
    options: CopyOptions = field(default_factory=CopyOptions)


def parse(sql: str) -> CopyStatement | None:
    """A COPY to STDOUT or from STDIN; None for any other statement (COPY to or from a
    file is DuckDB's own)."""
    if not _COPY.match(sql):
        return None
    try:
        tree = sqlglot.parse_one(_BARE_OPTIONS.sub(r"\1 WITH (", sql), read="postgres")
    except SqlglotError:
        return None
    if not isinstance(tree, exp.Copy) or len(tree.args.get("files") or []) != 1:
        return None
    (target,) = tree.args["files"]
    where = target.name.upper() if isinstance(target, (exp.Identifier, exp.Var)) else ""
    if where not in ("STDIN", "STDOUT"):
        return None
    to_client = not tree.args.get("kind")
    if to_client != (where == "STDOUT"):
        raise SqlError("42601", f"COPY {'TO' if to_client else 'FROM'} {where} is not possible")
    this = tree.this
    columns: list[str] = []
    if isinstance(this, exp.Schema):
        columns = [c.name for c in this.expressions]
        this = this.this
    is_query = isinstance(this, exp.Subquery)
    if is_query and not to_client:
        raise SqlError("42601", "COPY FROM cannot read into a query; name a table")
    source = this.this.sql("duckdb") if is_query else this.sql("duckdb")
    return CopyStatement(
        source, is_query, columns, to_client, _options(tree.args.get("params") or [])
    )


def _options(params: list[exp.Expression]) -> CopyOptions:
    """PostgreSQL's COPY options, in either spelling: WITH (FORMAT csv, HEADER) or the
    older CSV HEADER DELIMITER ','."""
    words: list[str] = []
    for param in params:
        for part in (param.this, param.args.get("expression")):
            if part is None:
                continue
            if isinstance(part, exp.Boolean):
                words.append("true" if part.this else "false")
            elif isinstance(part, exp.Tuple | exp.Paren):
                raise SqlError("0A000", f"COPY option {part.sql()} is not supported")
            else:
                words.append(part.name if isinstance(part, exp.Literal) else part.name.lower())
    options = CopyOptions()
    given: set[str] = set()
    position = 0
    while position < len(words):
        word = words[position].lower()
        value = words[position + 1] if position + 1 < len(words) else None
        position += 1
        if word in ("csv", "text", "binary"):
            word, value, position = "format", word, position - 1
        if word == "format":
            position += 1
            if value not in ("csv", "text"):
                raise SqlError("0A000", f"COPY format {value!r} is not supported (text, csv)")
            options.csv = value == "csv"
        elif word == "header":
            flag = _BOOLEAN.get((value or "").lower())
            options.header = True if flag is None else flag
            position += flag is not None
        elif word in ("delimiter", "null", "quote", "escape", "encoding"):
            if value is None:
                raise SqlError("42601", f"COPY option {word.upper()} needs a value")
            position += 1
            given.add(word)
            if word == "encoding":
                if value.upper().replace("-", "") != "UTF8":
                    raise SqlError("0A000", "COPY reads and writes UTF8 only")
            else:
                setattr(options, word, value)
        else:
            raise SqlError("42601", f'COPY option "{word}" is not recognized')
    if options.csv:
        options.delimiter = options.delimiter if "delimiter" in given else ","
        options.null = options.null if "null" in given else ""
        options.escape = options.escape if "escape" in given else options.quote
    if len(options.delimiter) != 1:
        raise SqlError("22023", "COPY delimiter must be a single one-byte character")
    return options


def text_values(array: pa.Array, column: ColumnType) -> pa.Array:
    """Each value's text as the server sends it in a DataRow, NULLs kept."""
    lengths, data = encoding.encode_column(array, column, binary=False)
    valid = lengths >= 0
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.where(valid, lengths, 0), out=offsets[1:])
    mask = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.LargeStringArray.from_buffers(
        len(lengths), pa.py_buffer(offsets), pa.py_buffer(data.tobytes()), mask
    )


def lines(
    batch: pa.RecordBatch, columns: list[ColumnType], options: CopyOptions
) -> tuple[bytes, np.ndarray]:
    """A batch's rows in COPY's format, each ending with a newline: their text back to back
    and where each row starts (one more offset than rows)."""
    if batch.num_rows == 0:
        return b"", np.zeros(1, dtype=np.int64)
    fields = [
        _field(text_values(batch.column(i), column), options) for i, column in enumerate(columns)
    ]
    joined = pc.binary_join_element_wise(*fields, _large(options.delimiter)) if fields else None
    if joined is None:
        return b"\n" * batch.num_rows, np.arange(batch.num_rows + 1, dtype=np.int64)
    rows = pc.binary_join_element_wise(joined, _large(""), _large("\n"))  # each + newline
    # The rows' text is their data buffer, back to back.
    offsets = np.frombuffer(rows.buffers()[1], np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return rows.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]], offsets - offsets[0]


def header(names: list[str], options: CopyOptions) -> bytes:
    texts = _field(pa.array(names, pa.large_string()), options).to_pylist()
    return (options.delimiter.join(texts) + "\n").encode()


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())  # as text_values' arrays: Arrow kernels match


def _field(values: pa.Array, options: CopyOptions) -> pa.Array:
    if not options.csv:
        for char, escaped in (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r")):
            values = pc.replace_substring(values, char, escaped)
        if options.delimiter != "\t":
            values = pc.replace_substring(values, options.delimiter, "\\" + options.delimiter)
        values = pc.replace_substring(values, "\t", "\\t")
        return pc.fill_null(values, options.null)
    # csv: quote a value with the delimiter, quote, a line break, or that reads as NULL.
    special = "[" + re.escape(options.delimiter + options.quote + "\r\n") + "]"
    needs = pc.or_(pc.match_substring_regex(values, special), pc.equal(values, options.null))
    doubled = pc.replace_substring(values, options.quote, options.escape + options.quote)
    quote = _large(options.quote)
    quoted = pc.binary_join_element_wise(quote, doubled, quote, _large(""))
    return pc.fill_null(pc.if_else(needs, quoted, values), options.null)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_sql(target: str, columns: list[str], options: CopyOptions) -> str:
    """The INSERT that loads a spooled COPY FROM STDIN file (parameters: the file, then
    read_csv's options as load_parameters gives them)."""
    names = ", ".join(quote_identifier(c) for c in columns)
    values = [f"c{i}" for i in range(len(columns))]
    if not options.csv:  # text format: \\, \t, \n, \r stand for themselves
        values = [_unescaped(v) for v in values]
    return (
        f"INSERT INTO {target} ({names}) SELECT {', '.join(values)} FROM read_csv($1,"
        " delim = $2, header = $3, quote = $4, escape = $5, nullstr = $6, columns = $7,"
        " all_varchar = true, auto_detect = false, allow_quoted_nulls = false)"
    )


def load_parameters(path: str, width: int, options: CopyOptions) -> list[object]:
    quote = options.quote if options.csv else ""
    escape = options.escape if options.csv else ""
    columns = {f"c{i}": "VARCHAR" for i in range(width)}
    return [path, options.delimiter, options.header, quote, escape, options.null, columns]


def _unescaped(column: str) -> str:
    text = f"replace({column}, '\\\\', chr(1))"
    for escaped, char in (("\\t", 9), ("\\n", 10), ("\\r", 13)):
        text = f"replace({text}, '{escaped}', chr({char}))"
    return f"replace({text}, chr(1), '\\')"
