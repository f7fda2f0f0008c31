"""The challenger: a logistic regression on the same features, as a scorecard team would build it.

Numeric features are winsorised at training quantiles (amounts are heavy-tailed), missing
values are filled with the training median and flagged by an indicator column (for
features that had missing values in training), then standardised. Categoricals are
one-hot encoded on their most frequent training levels (a missing or unseen level is
all zeros). The fitted state is plain numbers, kept as JSON; scoring is a dot product in
numpy, so a reload scores identically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MAX_LEVELS = 30
BLOCK_ROWS = 1 << 16  # rows of the design matrix built (and scored) at a time


@dataclasses.dataclass(frozen=True)
class Challenger:
    """A fitted logistic regression with its preprocessing."""

    numeric: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    fill: tuple[float, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]
    missing_flags: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    columns: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        """The standardised design matrix (columns as in ``columns``).

        Built block by block of ``BLOCK_ROWS`` rows into one array: every entry is computed
        from its own row alone, so the matrix is the same as built at once, without the
        several full-size temporaries (raw, filled, clipped, the parts) of a large table.
        """
        n, width = len(frame), len(self.numeric)
        out = np.empty((n, width + len(self.missing_flags) + sum(map(len, self.levels.values()))))
        for start in range(0, n, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, n)
            self._design_block(frame.iloc[start:stop], out[start:stop])
        return out

    def _design_block(self, frame: pd.DataFrame, out: np.ndarray) -> None:
        n, width = len(frame), len(self.numeric)
        raw = (
            frame[list(self.numeric)]
            .apply(pd.to_numeric, errors="raise")
            .to_numpy(dtype=np.float64)
        )
        raw = raw.reshape(n, width)
        filled = np.where(np.isnan(raw), np.asarray(self.fill), raw)
        clipped = np.clip(filled, np.asarray(self.lower), np.asarray(self.upper))
        out[:, :width] = (clipped - np.asarray(self.mean)) / np.asarray(self.sd)
        column = width
        for f in self.missing_flags:
            out[:, column] = np.isnan(raw[:, self.numeric.index(f)])
            column += 1
        for name, levels in self.levels.items():
            values = frame[name].astype(str).to_numpy(dtype=object)[:, None]
            out[:, column : column + len(levels)] = (
                values == np.asarray(levels, dtype=object)[None, :]
            )
            column += len(levels)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Event probabilities (block by block of rows: each row's dot product is its own)."""
        coef = np.asarray(self.coef)
        logit = np.empty(len(frame))
        for start in range(0, len(frame), BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, len(frame))
            logit[start:stop] = self.design(frame.iloc[start:stop]) @ coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def coefficients(self) -> pd.DataFrame:
        """Coefficients by design column, largest absolute first."""
        table = pd.DataFrame({"column": self.columns, "coefficient": self.coef})
        return table.reindex(
            table["coefficient"].abs().sort_values(ascending=False).index
        ).reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        raw["levels"] = {k: list(v) for k, v in self.levels.items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Challenger:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        values["levels"] = {k: tuple(v) for k, v in raw["levels"].items()}
        values["intercept"] = float(raw["intercept"])
        return cls(**values)


def _top_levels(column: pd.Series, max_levels: int) -> tuple[str, ...]:
    counts = column.dropna().astype(str).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(level for level, _ in ranked[:max_levels])


def fit_challenger(
    frame: pd.DataFrame,
    outcome: Sequence[float],
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    c: float = 1.0,
    clip_quantile: float = 0.01,
    max_levels: int = MAX_LEVELS,
) -> Challenger:
    """Fit the preprocessing and an L2-penalised logistic regression (inverse strength ``c``)."""
    from sklearn.linear_model import LogisticRegression  # fitting only: loading scores without it

    raw = frame[list(numeric)].apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        fill = np.nan_to_num(np.nanmedian(raw, axis=0), nan=0.0) if raw.size else np.zeros(0)
        lower = (
            np.nan_to_num(np.nanquantile(raw, clip_quantile, axis=0), nan=0.0)
            if raw.size
            else np.zeros(0)
        )
        upper = (
            np.nan_to_num(np.nanquantile(raw, 1 - clip_quantile, axis=0), nan=0.0)
            if raw.size
            else np.zeros(0)
        )
    clipped = np.clip(np.where(np.isnan(raw), fill, raw), lower, upper)
    mean, sd = clipped.mean(axis=0), clipped.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    flags = tuple(n for i, n in enumerate(numeric) if np.isnan(raw[:, i]).any())
    levels = {name: _top_levels(frame[name], max_levels) for name in categorical}
    columns = (
        *numeric,
        *(f"{n}__missing" for n in flags),
        *(f"{n}={lv}" for n, lvs in levels.items() for lv in lvs),
    )
    lower_t, upper_t, fill_t, mean_t, sd_t = (
        tuple(map(float, a)) for a in (lower, upper, fill, mean, sd)
    )
    unfitted = Challenger(
        tuple(numeric),
        lower_t,
        upper_t,
        fill_t,
        mean_t,
        sd_t,
        flags,
        levels,
        columns,
        (),
        0.0,
    )
    regression = LogisticRegression(C=c, max_iter=2000)
    regression.fit(unfitted.design(frame), np.asarray(outcome, dtype=float))
    return dataclasses.replace(
        unfitted,
        coef=tuple(map(float, regression.coef_[0])),
        intercept=float(regression.intercept_[0]),
    )
