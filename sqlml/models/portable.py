"""EXPORT MODEL (a model as one ONNX file, preprocessing and sqlml's metadata included) and
IMPORT MODEL (an ONNX file as a model: one sqlml exported, or any other it can serve)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import FileAccessError, UnsupportedError
from sqlml.models import create
from sqlml.result import ArrowResult, Result
from sqlml.session import Session


def export_model(node: ml.ExportModel, session: Session) -> Result:
    """Write the file where the statement runs; one row says what was written."""
    backend = session.backend
    name, version = node.this, node.args.get("version")
    backend.catalog.get(name, version)  # an unknown model or version is told first
    if not backend.local_files:
        raise UnsupportedError(
            f"EXPORT MODEL writes a file where the statement runs, and inside PostgreSQL that "
            f"is the server's file system, not yours: SELECT sqlml.export_model('{name}') "
            "returns the file's bytes, or run EXPORT MODEL through sqlml.connect"
        )
    path = local_path(node.args["path"])
    data = udfs.portable.export(backend.catalog, name, version)
    write_file(path, data)
    model = backend.catalog.get(name, version)
    columns = {
        "model": pa.string(),
        "version": pa.int32(),
        "path": pa.string(),
        "bytes": pa.int64(),
        "sha256": pa.string(),
    }
    row = (model.name, model.version, str(path), len(data), hashlib.sha256(data).hexdigest())
    return ArrowResult.from_rows(columns, [row])


def import_model(node: ml.ImportModel, session: Session) -> Result:
    """Store the file's model as a version of its own, checked before anything is stored:
    a graph that cannot be served is refused here, not at PREDICT."""
    started = time.perf_counter()
    backend = session.backend
    name = node.this
    if not create.may_store(node, session, "IMPORT MODEL"):
        return create.summary(backend.catalog.get(name), 0.0)
    data = node.args.get("data")
    source = "bytes given"
    if data is None:
        if not backend.local_files:
            raise UnsupportedError(
                "IMPORT MODEL reads a file where the statement runs, and inside PostgreSQL "
                f"that is the server's file system, not yours: SELECT sqlml.import_model('{name}', "
                "<the file's bytes>) takes the bytes, or run IMPORT MODEL through sqlml.connect"
            )
        path = local_path(node.args["path"])
        data, source = read_file(path), str(path)
    onnx, metadata = udfs.portable.imported(
        data,
        backend.name,
        source,
        task=node.args.get("task"),
        names=node.args.get("features"),
        target=node.args.get("target"),
    )
    function_name = node.args.get("function")
    if function_name:
        create.check_function_name(session, name, function_name)
    replace = bool(node.args.get("replace"))
    version = backend.add_model_version(name, onnx, metadata, function_name, replace)
    session.progress(f"model {name} version {version} is imported from {source}")
    return create.summary(backend.catalog.get(name, version), time.perf_counter() - started)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise FileAccessError(f"cannot read {path}: {error.strerror}") from None


def local_path(written: str) -> Path:
    """A path or file:// URI as a path of this machine; other URIs (gs://, s3://) are not
    sqlml's to reach."""
    parsed = urlparse(written)
    if parsed.scheme == "file":
        return Path(parsed.path).expanduser().absolute()
    if len(parsed.scheme) > 1:  # one letter is a Windows drive
        raise UnsupportedError(
            f"{written!r}: sqlml reads and writes files of this machine, not {parsed.scheme}:// "
            "URIs; give a local path (and copy the file with the storage's own tools)"
        )
    return Path(written).expanduser().absolute()


def write_file(path: Path, data: bytes) -> None:
    """All of the file or none: written beside its place, then moved there."""
    if path.is_dir():
        raise FileAccessError(f"cannot write {path}: it is a directory; name the file in it")
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise FileAccessError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from its readers
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise FileAccessError(f"cannot write {path}: {error.strerror}") from None
