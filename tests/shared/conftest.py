"""Tables of the packaged data sets, loaded into the backend under test."""

from __future__ import annotations

import datasets
import pytest


@pytest.fixture
def penguins(make_table) -> str:
    return make_table("penguins", datasets.penguins())


@pytest.fixture
def breast_cancer(make_table) -> str:
    return make_table("breast_cancer", datasets.breast_cancer())


@pytest.fixture
def diabetes(make_table) -> str:
    return make_table("diabetes", datasets.diabetes())


@pytest.fixture
def wine(make_table) -> str:
    return make_table("wine", datasets.wine())
