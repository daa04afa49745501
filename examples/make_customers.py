"""Writes examples/customers.csv and examples/customers_2025.csv, the made-up shop of the
README's tour: who churned depends on plan, spend, age and tenure, with noise. Run from the
repository's root: python examples/make_customers.py (the files are committed; the output
is the same on every run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PLANS = ["basic", "pro", "team"]


def customers(first_id: int, count: int, year: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, size=count, p=[0.5, 0.35, 0.15])
    age = rng.integers(18, 80, size=count)
    base = np.select([plan == "basic", plan == "pro"], [15.0, 45.0], 120.0)
    monthly_spend = np.round(base * rng.lognormal(0.0, 0.35, size=count), 2)
    tenure_days = rng.integers(0, 3 * 365, size=count)
    signup_date = pd.Timestamp(f"{year}-12-31") - pd.to_timedelta(tenure_days, unit="D")
    risk = (
        0.9 * (plan == "basic")
        - 0.6 * (plan == "team")
        - 0.02 * (monthly_spend - base)
        - 0.015 * (age - 45)
        - 0.0015 * tenure_days
        + rng.normal(0.0, 0.7, size=count)
    )
    return pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + count),
            "age": age,
            "plan": plan,
            "monthly_spend": monthly_spend,
            "signup_date": signup_date.date,
            "churned": risk > 0.0,
        }
    )


if __name__ == "__main__":
    here = Path(__file__).parent
    customers(1, 2000, 2024, seed=7).to_csv(here / "customers.csv", index=False)
    customers(2001, 500, 2025, seed=8).to_csv(here / "customers_2025.csv", index=False)
