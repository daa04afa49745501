"""What a model sees of its training rows: the columns as model inputs, and the scikit-learn
preprocessing (imputation, scaling, one-hot) that is converted to ONNX with the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:  # loaded on first use: scoring needs neither
    import pandas as pd
    from sklearn.pipeline import Pipeline

from .algorithms import Algorithm
from .features import Feature, model_inputs, to_model_input

MAX_CATEGORIES = 200  # per text column; rarer values are treated as unknown


def model_frame(table: pa.Table, features: list[Feature]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {f.name: to_model_input(table.column(f.name), f).reshape(-1) for f in features}
    )


def onnx_inputs(frame: pd.DataFrame, features: list[Feature]) -> dict[str, np.ndarray]:
    columns = [frame[f.name].to_numpy().reshape(-1, 1) for f in features]
    return model_inputs(features, columns)


def fitting_pipeline(
    features: list[Feature], algo: Algorithm, estimator: Any, sample: pd.DataFrame
) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f.name for f in features if not f.onnx_is_string]
    categorical = [f.name for f in features if f.onnx_is_string]
    parts = []
    if numeric and algo.learns_missing:
        # LightGBM learns which way a missing value goes; imputing would hide missingness
        # (and the median alone took 3-5 s of a 1M-row training).
        parts.append(("numeric", "passthrough", numeric))
    elif numeric:
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        steps = [("impute", impute)]
        if algo.scale_inputs:
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        categories = [_frequent_categories(sample[name]) for name in categorical]
        encoder = OneHotEncoder(
            categories=categories, handle_unknown="ignore", sparse_output=False, dtype=np.float32
        )
        parts.append(("categorical", encoder, categorical))
    prepare = ColumnTransformer(parts, remainder="drop", sparse_threshold=0)
    return Pipeline([("prepare", prepare), ("model", estimator)])


def _frequent_categories(values: pd.Series) -> list[str]:
    counts = values.value_counts()
    return sorted(str(v) for v in counts.index[:MAX_CATEGORIES])
