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

The output is a tracked pipeline output (``data/truth``), so every sum here runs in a fixed
order, term by term, with one IEEE multiplication and one addition per term: no BLAS (``@``
picks its kernel, and with it the summation order, by processor and thread count, so the
same inputs gave results some ulps apart on another machine) and no sum across rows. Each
customer-month's probabilities depend on its own inputs alone: the same bytes on any
machine, with any number of threads and in any row order.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

GRID = np.linspace(-5.0, 5.0, 201)
TAIL_CUT = 1e-16  # transition probabilities below it are dropped (ar1_transition)


def fixed_order_matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` summed in index order: entry ``[i, k]`` is ``((l[i,0] r[0,k] + l[i,1] r[1,k]) + ...)``.

    ``right`` may carry more axes after the summed one (``(J, ...)`` gives ``(I, ...)``).
    Every term is one rounded product added to the running sum, so the result does not
    depend on the processor, the BLAS library or the thread count. A term whose ``left``
    entry is exactly zero adds +0.0 to a sum of finite terms and changes nothing, so each
    column of ``left`` is only visited between its first and last non-zero row (a Tauchen
    matrix is zero over some 40% of its cells).
    """
    shape = (left.shape[0], *right.shape[1:])
    columns = right.reshape(right.shape[0], -1)
    total = np.zeros((left.shape[0], columns.shape[1]))
    term = np.empty_like(total)
    nonzero = left != 0
    first = np.argmax(nonzero, axis=0)
    end = left.shape[0] - np.argmax(nonzero[::-1], axis=0)
    for j in np.flatnonzero(nonzero.any(axis=0)):
        rows = slice(first[j], end[j])
        np.multiply(left[rows, j, None], columns[j][None, :], out=term[rows])
        total[rows] += term[rows]
    return total.reshape(shape)


def fixed_order_sum(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The sum over ``axis`` added in index order (``np.sum`` leaves the order to numpy)."""
    values = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    total = np.zeros(values.shape[1:])
    for part in values:
        total += part
    return total


def ar1_transition(grid: np.ndarray, persistence: float) -> np.ndarray:
    """Tauchen matrix of a stationary AR(1) with unit variance on ``grid``.

    Row ``i`` is the distribution of next month's state on the grid given this month's
    state ``grid[i]``; the outermost cells absorb the tails. Cells less likely than
    ``TAIL_CUT`` are zero (as the upper tail's already are, where the normal CDF rounds
    to 1), which narrows each column's band of non-zero rows, and with it the work of
    ``fixed_order_matmul``, about threefold; the rows are normalised again.
    """
    innovation_sd = np.sqrt(1.0 - persistence**2)
    edges = np.concatenate(([-np.inf], (grid[:-1] + grid[1:]) / 2, [np.inf]))
    mean = persistence * grid[:, None]
    cdf = ndtr((edges[None, :] - mean) / innovation_sd)
    transition = np.diff(cdf, axis=1)
    transition[transition < TAIL_CUT] = 0.0
    return transition / fixed_order_sum(transition, axis=1)[:, None]


def first_event_schedule(transition: np.ndarray, hazard: np.ndarray, horizon: int) -> np.ndarray:
    """Probability of the first event ``j`` months after each start month.

    Args:
        transition: AR(1) transition matrix on the grid (G x G).
        hazard: Monthly event probability by calendar month and state (T x G), or
            (T x G x B) for ``B`` hazard tables sharing the transition (computed together).
        horizon: Number of months ``j`` = 0 .. horizon-1 to report.

    Returns:
        Array (T, G, horizon), or (T, G, B, horizon): entry ``[s, i, j]`` is P(no event in
        months s .. s+j-1 and the event in month s+j | state in month s-1 = grid[i]).
        Months at or after T carry no hazard, so windows reaching past the hazard table
        are truncated.
    """
    months = hazard.shape[0]
    schedule = np.zeros((*hazard.shape, horizon))
    later = np.zeros((*hazard.shape[1:], horizon))
    for month in range(months - 1, -1, -1):
        step = np.empty_like(later)
        step[..., 0] = hazard[month]
        step[..., 1:] = (1.0 - hazard[month])[..., None] * later[..., :-1]
        later = fixed_order_matmul(transition, step)
        schedule[month] = later
    return schedule


def stationary_event_schedule(
    transition: np.ndarray, hazard: np.ndarray, horizon: int
) -> np.ndarray:
    """``first_event_schedule`` for a hazard that does not change over time: G (or G x B) -> G (x B) x horizon."""
    return first_event_schedule(
        transition, np.broadcast_to(hazard, (horizon, *hazard.shape)), horizon
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
    no_churn_before = 1.0 - np.cumsum(churn, axis=1) + churn  # cumsum adds in index order
    no_onset_through = 1.0 - np.cumsum(onset, axis=1)
    default = fixed_order_sum(default_in_window * no_churn_before * onset, axis=1)
    churn_probability = fixed_order_sum((churn * no_onset_through)[:, :churn_horizon], axis=1)
    return np.clip(default, 0.0, 1.0), np.clip(churn_probability, 0.0, 1.0)


# --- the synthetic portfolio's hazards -------------------------------------------------


@dataclass(frozen=True)
class Schedules:
    """The first-event schedules of a book on the grid, computed once for all its firms.

    ``onset``: (T, G, onset groups, horizon), one group per (segment, industry) of the
    book; ``churn``: (G, churn groups, horizon), one group per static churn log-odds of
    the book (``bases``, sorted) and new-client months left (0 .. horizon) that a snapshot
    of the book may see (``churn_groups[base, left]``, -1 where none does). Every entry
    depends on its group's hazards alone, so the schedule of a firm is the same whatever
    other firms the book holds, and a shorter horizon is a prefix of the last axis.
    """

    horizon: int
    onset_groups: dict[tuple[int, int], int]
    onset: np.ndarray
    bases: np.ndarray
    churn_groups: np.ndarray
    churn: np.ndarray

    @classmethod
    def of_book(
        cls,
        hazards,
        env,
        coef,
        *,
        segment,
        industry,
        churn_base,
        months_left_low,
        months_left_high,
        horizon: int,
        workers: int = 1,
    ) -> Schedules:
        """The schedules of every group a snapshot of the book may fall in.

        ``months_left_low`` .. ``months_left_high``: per firm, the new-client months left at
        its last and first possible snapshot (``low > high``: none). With ``workers`` > 1
        the onset schedules are computed in another process meanwhile (the same bits).
        """
        groups = _pairs(segment, industry)
        bases, base_index = np.unique(churn_base, return_inverse=True)
        low = np.clip(months_left_low, 0, horizon)
        high = np.clip(months_left_high, 0, horizon)
        seen = np.zeros((bases.size, horizon + 1), dtype=bool)
        for b, first, last in set(
            zip(base_index.tolist(), low.tolist(), high.tolist(), strict=True)
        ):
            seen[b, first : last + 1] = True
        churn_groups = np.full(seen.shape, -1, dtype=np.int64)
        churn_groups[seen] = np.arange(int(seen.sum()))
        onset_args = (hazards, env, coef, groups, horizon)
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                pending = pool.submit(_onset_tables, *onset_args)
                churn = _churn_tables(hazards, coef, bases, np.argwhere(seen), horizon)
                onset = pending.result()
        else:
            onset = _onset_tables(*onset_args)
            churn = _churn_tables(hazards, coef, bases, np.argwhere(seen), horizon)
        return cls(
            horizon=horizon,
            onset_groups={group: k for k, group in enumerate(groups)},
            onset=onset,
            bases=bases,
            churn_groups=churn_groups,
            churn=churn,
        )


def _pairs(first: np.ndarray, second: np.ndarray) -> list[tuple[int, int]]:
    """The distinct (first, second) pairs of two arrays of small non-negative codes, sorted."""
    width = int(np.max(second, initial=0)) + 1
    codes = np.unique(np.asarray(first, dtype=np.int64) * width + second)
    return [(int(c // width), int(c % width)) for c in codes]


def _onset_tables(hazards, env, coef, groups: list[tuple[int, int]], horizon: int) -> np.ndarray:
    """(T, G, groups, horizon): P(no onset before, onset j months after month s | state)."""
    transition = ar1_transition(GRID, coef.credit_persistence)
    if not groups:
        return np.zeros((env.industry.shape[1], GRID.size, 0, horizon))
    hazard = np.stack(
        [
            hazards.distress(
                seg, ind, GRID[None, :], env.industry[ind][:, None], env.credit_crunch[:, None]
            )
            for seg, ind in groups
        ],
        axis=-1,
    )
    return first_event_schedule(transition, hazard, horizon)


def _churn_tables(hazards, coef, bases: np.ndarray, groups: np.ndarray, horizon: int) -> np.ndarray:
    """(G, groups, horizon): P(no churn before, churn j months after | state), per group
    (b, left) of static log-odds ``bases[b]`` and ``left`` months of new-client hazard."""
    transition = ar1_transition(GRID, coef.engagement_persistence)
    if len(groups) == 0:
        return np.zeros((GRID.size, 0, horizon))
    hazard = np.stack(
        [
            hazards.churn(bases[b], (np.arange(horizon) < left)[:, None], GRID[None, :])
            for b, left in groups
        ],
        axis=-1,
    )  # (horizon, G, groups): the hazard of each month after the snapshot
    return first_event_schedule(transition, hazard, horizon)[0]


def event_probabilities(
    schedules: Schedules,
    cal,
    *,
    segment: np.ndarray,
    industry: np.ndarray,
    churn_base: np.ndarray,
    new_client_months_left: np.ndarray,
    snapshot: np.ndarray,
    credit: np.ndarray,
    engagement: np.ndarray,
    onset_month: np.ndarray,
    default_day: np.ndarray,
    default_dpd: int,
    default_horizon: int,
    churn_horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """P(default) and P(churn) within the windows, given the states at month starts ``snapshot``.

    ``schedules`` are the book's (``Schedules.of_book``, for a horizon at least the
    windows'); ``cal`` the generator's calendar; ``snapshot`` counts history months (>= 1);
    ``credit`` and ``engagement`` are the states of the month before the snapshot.
    A customer whose distress started before the snapshot defaults on a known date
    (probability 0 or 1) and no longer churns.
    """
    horizon = max(default_horizon, churn_horizon)
    onset = _onset_schedule(schedules, segment, industry, snapshot, credit, horizon)
    churn = _churn_schedule(schedules, churn_base, new_client_months_left, engagement, horizon)
    offsets = snapshot[:, None] + np.arange(horizon)[None, :]
    in_window = (
        cal.end_of(offsets) + default_dpd < cal.start_of(snapshot + default_horizon)[:, None]
    )
    default, churn_probability = combine_competing_risks(onset, churn, in_window, churn_horizon)
    distressed = onset_month < snapshot
    known = (default_day < cal.start_of(snapshot + default_horizon)).astype(float)
    return np.where(distressed, known, default), np.where(distressed, 0.0, churn_probability)


def _onset_schedule(
    schedules: Schedules, segment, industry, snapshot, credit, horizon
) -> np.ndarray:
    """P(no onset before, onset j months after the snapshot), per (segment, industry) on the grid."""
    onset = np.zeros((snapshot.size, horizon))
    for seg, ind in _pairs(segment, industry):
        rows = np.flatnonzero((segment == seg) & (industry == ind))
        table = schedules.onset[:, :, schedules.onset_groups[seg, ind], :horizon]
        onset[rows] = on_grid(GRID, table, credit[rows], rows=snapshot[rows])
    return onset


def _churn_schedule(
    schedules: Schedules, churn_base, new_client_months_left, engagement, horizon
) -> np.ndarray:
    """P(no churn before, churn j months after the snapshot), per static log-odds and new-client months left."""
    # the book's left months (a shorter window sees the same hazards in its months)
    months_left = np.clip(new_client_months_left, 0, schedules.horizon)
    base = np.searchsorted(schedules.bases, churn_base)
    if not np.array_equal(schedules.bases[np.minimum(base, schedules.bases.size - 1)], churn_base):
        raise ValueError("a churn log-odds outside the book's schedules")
    group = schedules.churn_groups[np.minimum(base, schedules.bases.size - 1), months_left]
    if (group < 0).any():
        raise ValueError("a snapshot outside the book's schedules")
    churn = np.zeros((churn_base.size, horizon))
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        churn[rows] = on_grid(GRID, schedules.churn[:, g, :horizon], engagement[rows])
    return churn
