"""Exact event probabilities of the synthetic portfolio, given the latent state.

The generator's latent credit quality and engagement are independent stationary AR(1)
processes, and the monthly hazards of distress onset and churn depend on the customer's
static attributes, the known environment and one latent each. That makes the
probability of an event inside a window computable on a grid instead of by
simulation: discretise each AR(1) into a transition matrix (Tauchen) and sweep the
months backwards with the known hazards.

With independent latents the competing risks factorise: the chance that distress
starts ``j`` months after the snapshot is (no churn in the ``j`` months before, from
engagement alone) times (no onset before and onset then, from credit quality alone);
the chance of churn ``j`` months after is (no churn before and churn then) times (no
onset up to and including that month). Within a month distress is drawn first.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

GRID = np.linspace(-5.0, 5.0, 201)


def ar1_transition(grid: np.ndarray, persistence: float) -> np.ndarray:
    """Tauchen matrix of a stationary AR(1) with unit variance on ``grid``.

    Row ``i`` is the distribution of next month's state on the grid given this month's
    state ``grid[i]``; the outermost cells absorb the tails.
    """
    innovation_sd = np.sqrt(1.0 - persistence**2)
    edges = np.concatenate(([-np.inf], (grid[:-1] + grid[1:]) / 2, [np.inf]))
    mean = persistence * grid[:, None]
    cdf = ndtr((edges[None, :] - mean) / innovation_sd)
    transition = np.diff(cdf, axis=1)
    return transition / transition.sum(axis=1, keepdims=True)


def first_event_schedule(transition: np.ndarray, hazard: np.ndarray, horizon: int) -> np.ndarray:
    """Probability of the first event ``j`` months after each start month.

    Args:
        transition: AR(1) transition matrix on the grid (G x G).
        hazard: Monthly event probability by calendar month and state (T x G).
        horizon: Number of months ``j`` = 0 .. horizon-1 to report.

    Returns:
        Array (T, G, horizon): entry ``[s, i, j]`` is P(no event in months s .. s+j-1
        and the event in month s+j | state in month s-1 = grid[i]). Months at or after
        T carry no hazard, so windows reaching past the hazard table are truncated.
    """
    months, size = hazard.shape
    schedule = np.zeros((months, size, horizon))
    later = np.zeros((size, horizon))
    for month in range(months - 1, -1, -1):
        step = np.empty((size, horizon))
        step[:, 0] = hazard[month]
        step[:, 1:] = (1.0 - hazard[month])[:, None] * later[:, :-1]
        later = transition @ step
        schedule[month] = later
    return schedule


def stationary_event_schedule(
    transition: np.ndarray, hazard: np.ndarray, horizon: int
) -> np.ndarray:
    """``first_event_schedule`` for a hazard that does not change over time (G x horizon)."""
    return first_event_schedule(
        transition, np.broadcast_to(hazard, (horizon, hazard.size)), horizon
    )[0]


def on_grid(
    grid: np.ndarray, table: np.ndarray, values: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """Linear interpolation at ``values`` of a table whose first axis is ``grid``.

    With ``rows``, ``table`` holds one grid table per row index (R, G, ...) and value
    ``i`` is interpolated in ``table[rows[i]]``.
    """
    step = grid[1] - grid[0]
    position = (np.clip(values, grid[0], grid[-1]) - grid[0]) / step
    lower = np.minimum(position.astype(np.int64), grid.size - 2)
    extra_axes = table.ndim - (1 if rows is None else 2)
    weight = (position - lower)[(...,) + (None,) * extra_axes]
    if rows is None:
        return (1.0 - weight) * table[lower] + weight * table[lower + 1]
    return (1.0 - weight) * table[rows, lower] + weight * table[rows, lower + 1]


def combine_competing_risks(
    onset: np.ndarray, churn: np.ndarray, default_in_window: np.ndarray, churn_horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Default and churn probabilities from the per-month first-event probabilities.

    Args:
        onset: (N, H) P(no onset before, onset ``j`` months after the snapshot | credit quality).
        churn: (N, H) P(no churn before, churn ``j`` months after | engagement).
        default_in_window: (N, H) whether an onset ``j`` months after the snapshot puts
            the default date inside the default window.
        churn_horizon: Months of the churn window (at most H).

    Returns:
        (P(default in window), P(churn in window)), each of length N.
    """
    no_churn_before = 1.0 - np.cumsum(churn, axis=1) + churn
    no_onset_through = 1.0 - np.cumsum(onset, axis=1)
    default = np.sum(default_in_window * no_churn_before * onset, axis=1)
    churn_probability = np.sum((churn * no_onset_through)[:, :churn_horizon], axis=1)
    return np.clip(default, 0.0, 1.0), np.clip(churn_probability, 0.0, 1.0)
