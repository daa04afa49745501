"""Copy a model between databases: DuckDB ↔ PostgreSQL, or between two of one kind.

The ONNX bytes and the metadata travel unchanged, so the copy predicts exactly what the
original does; the target database creates its own functions for it.
"""

from __future__ import annotations

from sqlml._udfs_loader import udfs
from sqlml.connection import Connection
from sqlml.errors import FeatureTableNotFoundError, ModelExistsError


def copy_model(
    source: Connection,
    target: Connection,
    name: str,
    new_name: str | None = None,
    replace: bool = False,
) -> int:
    """Copy the in-use version of ``name``; the version number it gets in ``target``."""
    model = source.backend.catalog.get(name)
    onnx = source.backend.catalog.onnx(name, model.version)
    destination = new_name or name
    catalog = target.backend.catalog
    if catalog.find(destination) is not None and not replace:
        raise ModelExistsError(
            f"model {destination!r} already exists in the target: copy with replace=True "
            "(sqlml copy-model --replace) to add it as a new version, or name the copy "
            "otherwise (--as)"
        )
    used = [f["table"] for f in model.metadata.get("annotations", {}).get("features", [])]
    present = udfs.catalog.FeatureTables(catalog.db).names()
    missing = [t for t in used if t not in present]
    if missing:
        raise FeatureTableNotFoundError(
            f"model {name!r} reads feature table(s) {', '.join(missing)}, which the target "
            "does not have: create them there first (CREATE FEATURE TABLE, with the same KEY "
            "and TIMESTAMP), then copy the model"
        )
    function = model.function_name
    if function and catalog.owner_of_function(function) not in (None, destination):
        raise ModelExistsError(f"FUNCTION {function} already serves another model in the target")
    if (
        function
        and catalog.owner_of_function(function) is None
        and (target.backend.function_exists(function))
    ):
        raise ModelExistsError(f"the target already has a function named {function}")
    metadata = {**model.metadata, "copied_from": {"model": name, "version": model.version}}
    metadata.pop("function_schema", None)
    # The training statistics travel too, where the copier may see them.
    statistics = source.backend.catalog.feature_info(name, model.version)
    if statistics is not None:
        metadata["feature_info"] = statistics
    return target.backend.add_model_version(destination, onnx, metadata, function, replace)
