"""Real data sets that ship inside installed packages (no network)."""

from __future__ import annotations

import pandas as pd


def penguins() -> pd.DataFrame:
    """Palmer penguins: 344 rows, text categories, NULLs in numbers and text."""
    import palmerpenguins

    return palmerpenguins.load_penguins()


def breast_cancer() -> pd.DataFrame:
    """569 rows, 30 numeric features, binary integer target ``diagnosis`` (1 = benign)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame.rename(columns={"target": "diagnosis"})


def diabetes() -> pd.DataFrame:
    """442 rows, 10 numeric features, numeric target ``progression``."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})


def wine() -> pd.DataFrame:
    """178 rows, 13 numeric features, three classes in ``cultivar``."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    return frame
