"""Settings of the synthetic portfolio (``params.yaml`` → ``data.synthetic``)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from research._params import check as _check
from research._params import check_date as _check_date


@dataclasses.dataclass(frozen=True)
class SyntheticParams:
    n_customers: int
    start: str
    months: int
    scenario: Literal["baseline", "downturn"]
    transactions_per_month: float

    def __post_init__(self) -> None:
        _check(self.n_customers >= 10, "data.synthetic.n_customers", "must be at least 10")
        _check(self.months >= 36, "data.synthetic.months", "must be at least 36 (3 years)")
        _check(
            self.transactions_per_month > 0, "data.synthetic.transactions_per_month", "must be > 0"
        )
        _check_date(self.start, "data.synthetic.start")
