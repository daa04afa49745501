"""Writes the dbt example's seeds, seeds/customers.csv and seeds/orders.csv: a made-up shop
whose customers buy again more often the more loyal they are. The data were made up for this
example: loyalty rises with the channel (app over store over web) and with age, shorter gaps
between orders follow from it, and some customers never come back after their first order.
Run from anywhere: python examples/dbt/make_seeds.py (the files are committed; the output is
the same on every run)."""

from __future__ import annotations

import csv
import math
import random
from datetime import date, datetime, timedelta
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"
CUSTOMERS = 400
START = date(2025, 1, 1)
SIGNUP_DAYS = 181  # 2025-01-01 up to and including 2025-06-30
END = datetime(2026, 1, 1)
REGIONS = ["north", "south", "east", "west"]
CHANNELS = ["web", "store", "app"]
CHANNEL_LOYALTY = {"web": 0.0, "store": 0.6, "app": 1.2}


def make_customers(rng: random.Random) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for customer_id in range(1, CUSTOMERS + 1):
        signup = START + timedelta(days=rng.randrange(SIGNUP_DAYS))
        region = rng.choice(REGIONS)
        channel = rng.choices(CHANNELS, weights=[0.45, 0.3, 0.25])[0]
        age = rng.randint(18, 75)
        rows.append(
            {
                "customer_id": customer_id,
                "signup_date": signup.isoformat(),
                "region": region,
                "channel": channel,
                "age": age,
            }
        )
    return rows


Order = tuple[datetime, int, str, int]


def customer_orders(rng: random.Random, customer: dict[str, object]) -> list[Order]:
    """Orders of one customer, as (ordered_at, customer_id, amount, items) tuples."""
    age = int(str(customer["age"]))
    loyalty = CHANNEL_LOYALTY[str(customer["channel"])] + (age - 18) / 57 + rng.gauss(0.0, 0.4)
    mean_gap = 250.0 * math.exp(-1.5 * loyalty)  # days between orders
    churns = rng.random() < 0.35 / (1.0 + math.exp(2.0 * loyalty))
    signup = datetime.fromisoformat(str(customer["signup_date"]))
    at = signup + timedelta(days=rng.randrange(30), seconds=rng.randrange(8 * 3600, 22 * 3600))
    rows: list[Order] = []
    while at < END:
        items = rng.randint(1, 8)
        amount = min(400.0, max(5.0, items * 14.0 * math.exp(rng.gauss(0.2 * loyalty, 0.4))))
        rows.append((at, int(str(customer["customer_id"])), f"{amount:.2f}", items))
        if churns:
            break
        gap = 1 + int(rng.expovariate(1.0 / mean_gap))
        day = datetime.combine(at.date() + timedelta(days=gap), datetime.min.time())
        at = day + timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600))
    return rows


def main() -> None:
    rng = random.Random(2026)
    customers = make_customers(rng)
    orders = sorted(row for customer in customers for row in customer_orders(rng, customer))
    SEEDS.mkdir(exist_ok=True)
    with (SEEDS / "customers.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(customers[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(customers)
    with (SEEDS / "orders.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount", "items"])
        for order_id, (at, customer_id, amount, items) in enumerate(orders, start=1):
            writer.writerow([order_id, customer_id, f"{at:%Y-%m-%d %H:%M:%S}", amount, items])


if __name__ == "__main__":
    main()
