"""The rows a model reads after training, built from new rows as its training rows were."""

from __future__ import annotations

from sqlglot import exp

from sqlml.feature_tables import point_in_time
from sqlml.models import transform
from sqlml.session import ModelVersion, Session


def model_rows(model: ModelVersion, query: exp.Query, session: Session) -> exp.Query:
    """The rows to evaluate a model on, built from ``query`` as its training rows were:
    through its TRANSFORM, or joined point-in-time to its feature tables as of the same
    columns."""
    query = transform.model_rows(model, query)
    uses = model.metadata.get("annotations", {}).get("features")
    if uses:
        sources = [(u["table"], u["as_of"]) for u in uses]
        query, _, _ = point_in_time.training_rows(query, sources, session)
    return query
