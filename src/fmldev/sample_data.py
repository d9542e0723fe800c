"""The seeded sample dataset (`samples/churn.csv`) and files to score, for the demo, tests and benches.

A telecom-churn-like table: numeric and categorical columns, some missing values, and a
binary target `churned` that depends on the features (so a model has something to learn).
`--score` writes a file to score instead: a `customer_id` pass-through column, no target.

    python -m fmldev.sample_data samples/churn.csv [rows] [--score] [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from pathlib import Path

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENTS = ("card", "bank-transfer", "electronic-check", "mailed-check")
FEATURES = (
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "contract",
    "payment_method",
    "has_internet",
)


def rows(n: int, seed: int = 7):
    rng = random.Random(seed)
    for i in range(n):
        tenure = rng.randint(1, 72)
        contract = rng.choices(CONTRACTS, weights=(55, 25, 20))[0]
        payment = rng.choice(PAYMENTS)
        internet = rng.random() < 0.7
        charges = round(rng.uniform(18, 40) + (rng.uniform(20, 75) if internet else 0), 2)
        calls = min(int(rng.expovariate(0.8)), 9)
        logit = (
            -1.0
            - 0.045 * tenure
            + 0.025 * charges
            + 0.45 * calls
            + {"month-to-month": 1.2, "one-year": -0.3, "two-year": -1.4}[contract]
            + (0.6 if payment == "electronic-check" else 0.0)
        )
        churned = int(rng.random() < 1 / (1 + math.exp(-logit)))
        row = [tenure, charges, calls, contract, payment, "yes" if internet else "no"]
        # Missing values, as real exports have them (never in the target).
        for col in (1, 2, 4):
            if rng.random() < 0.03:
                row[col] = ""
        yield f"C{i:07d}", row, churned


def write(out: Path, n: int, score: bool = False, seed: int = 7) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["customer_id", *FEATURES] if score else [*FEATURES, "churned"])
        for customer_id, row, churned in rows(n, seed):
            writer.writerow([customer_id, *row] if score else [*row, churned])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("rows", type=int, nargs="?", default=2000)
    parser.add_argument("--score", action="store_true", help="a file to score: id column, no target")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write(args.out, args.rows, args.score, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
