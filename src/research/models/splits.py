"""Development, validation and test splits a model validator accepts.

With a snapshot date (the panel, or a flat table that has one):

- ``oot``: out-of-time test, every labelled row on or after ``oot_first_snapshot``.
- ``purged``: labelled rows before it whose label window reaches into the out-of-time
  period (``snapshot_date + horizon > oot_first_snapshot``). Their outcomes happen in the
  test period, so fitting on them would leak test-period information (the macro state,
  the same defaults seen earlier); they are scored but never fitted or measured.
- ``train`` / ``valid``: the remaining (development) rows, divided **by customer**: all of
  a customer's rows fall on one side, ``valid_fraction`` of the customers (stratified by
  whether the customer ever has the event) go to ``valid``.
- ``latest``: rows without a label, and every row of a censored snapshot: scored only.
  A snapshot whose label window runs past the data is censored as a whole when fewer
  than ``min_labelled_share`` of its rows carry a label. Its few labelled rows are the
  events already seen (a default in the first months of the window is known, a
  non-default is not), so keeping them would add a sample of events only and bias
  every metric and the calibration test.

Without a date column (a flat table), ``test`` is a stratified random share of the
customers (``test_fraction``) and the rest divides into ``train`` / ``valid`` as above.

An empty ``split.oot_first_snapshot`` is derived from the snapshots and the as-of date
(``derive_oot_first_snapshot``): the out-of-time test is the latest ``OOT_SHARE`` (a fifth,
rounded up) of the labelled snapshots, those whose longest label window ends by the day
after the as-of date, so its labels are fully observed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

TRAIN, VALID, OOT, TEST, PURGED, LATEST = "train", "valid", "oot", "test", "purged", "latest"
SPLITS = (TRAIN, VALID, OOT, TEST, PURGED, LATEST)
FITTED = (TRAIN, VALID)


# Share of the fully labelled snapshots (rows, for event anchors) that a derived
# out-of-time test holds, at least: a fifth, rounded up to whole snapshots (4 of the 17
# labelled quarterly snapshots of the default grid: 2023-04-01 on, as configured).
OOT_SHARE = 0.2


def derive_oot_first_snapshot(
    dates: Sequence[pd.Timestamp] | pd.Series,
    *,
    observation_end: pd.Timestamp,
    horizon_months: int,
    share: float = OOT_SHARE,
) -> tuple[pd.Timestamp, str]:
    """The out-of-time start that the data suggests, and a sentence saying how it was found.

    Args:
        dates: The snapshot dates, once each (a calendar grid), or the panel's row dates
            (event anchors: a date weighs as many rows as it has).
        observation_end: The day after the as-of date.
        horizon_months: The longest label window of the models on the panel.
        share: The least share of the labelled dates (rows) the out-of-time test holds.

    A date is labelled when its ``horizon_months`` window ends by ``observation_end``. The
    result is the latest labelled date such that the labelled dates from it on hold at least
    ``share`` of them, moved later while it leaves no development date whose window ends by
    it (every development row would be purged).

    Raises:
        ValueError: When fewer than two labelled dates, or no development date, remain.
    """
    stamps = pd.Series(pd.to_datetime(pd.Series(dates)).astype("datetime64[ns]").to_numpy())
    end = pd.Timestamp(observation_end).as_unit("ns")
    window_end = stamps + pd.DateOffset(months=horizon_months)
    labelled = stamps[window_end <= end].sort_values().reset_index(drop=True)
    counts = labelled.value_counts().sort_index()
    if len(counts) < 2:
        latest = (end - pd.DateOffset(months=horizon_months)).date()
        raise ValueError(
            f"{len(counts)} snapshot date(s) have a {horizon_months}-month label window that "
            f"ends by {end:%Y-%m-%d} (the day after the as-of date; windows must start on or "
            f"before {latest}); an out-of-time test needs a development period before it"
        )
    tail = counts[::-1].cumsum()[::-1]  # labelled rows on or after each date
    target = share * len(labelled)
    candidates = tail.index[tail.to_numpy() >= target]
    earliest_allowed = counts.index[0] + pd.DateOffset(months=horizon_months)
    allowed = [d for d in counts.index[1:] if d >= earliest_allowed]
    if not allowed:
        raise ValueError(
            f"the labelled snapshots run {counts.index[0]:%Y-%m-%d} .. {counts.index[-1]:%Y-%m-%d}: "
            f"no out-of-time start leaves a development snapshot whose {horizon_months}-month "
            f"window ends before it (one on or after {earliest_allowed:%Y-%m-%d} is needed)"
        )
    best = candidates[-1]
    oot = max(best, allowed[0]) if best < allowed[0] else best
    held = int(tail[oot])
    how = (
        f"the latest {held} of {len(labelled)} labelled "
        f"{'snapshots' if counts.max() == 1 else 'rows'} ({held / len(labelled):.0%}; at least "
        f"{share:.0%}), those whose {horizon_months}-month windows end by {end:%Y-%m-%d}"
    )
    return oot.as_unit("ns"), how


def purged(dates: pd.Series, *, oot_first_snapshot: str, horizon_months: int) -> pd.Series:
    """True where a snapshot's label window ends after the out-of-time period starts."""
    window_end = pd.to_datetime(dates) + pd.DateOffset(months=horizon_months)
    return window_end > pd.Timestamp(oot_first_snapshot)


def censored_snapshots(
    dates: pd.Series, labels: pd.Series, *, min_labelled_share: float = 0.5
) -> pd.Series:
    """True for the rows of snapshot dates where fewer than ``min_labelled_share`` of the rows have a label."""
    share = labels.notna().groupby(pd.to_datetime(dates).to_numpy()).transform("mean")
    return pd.Series(share.to_numpy() < min_labelled_share, index=labels.index)


def customer_holdout(ids: pd.Series, labels: pd.Series, *, fraction: float, seed: int) -> pd.Series:
    """True for the rows of a seeded ``fraction`` of customers, stratified by ever having the event.

    Every row of a customer gets the same value. The draw depends only on the set of
    customers and their outcomes, not on the order of the rows.
    """
    ever = labels.fillna(0).groupby(ids.to_numpy()).max().sort_index()
    rng = np.random.default_rng(seed)
    chosen: list = []
    for outcome in (0.0, 1.0):
        members = ever.index[ever.to_numpy() == outcome].to_numpy()
        take = round(fraction * len(members))
        chosen.extend(members[rng.permutation(len(members))[:take]])
    return pd.Series(ids.isin(chosen).to_numpy(), index=ids.index)


def out_of_time_splits(
    frame: pd.DataFrame,
    *,
    id_column: str,
    date_column: str,
    label: str,
    oot_first_snapshot: str,
    horizon_months: int,
    valid_fraction: float,
    seed: int,
) -> pd.Series:
    """The split of every row of a dated table (see the module docstring)."""
    dates = pd.to_datetime(frame[date_column])
    labelled = frame[label].notna() & ~censored_snapshots(dates, frame[label])
    in_oot = dates >= pd.Timestamp(oot_first_snapshot)
    is_purged = ~in_oot & purged(
        dates, oot_first_snapshot=oot_first_snapshot, horizon_months=horizon_months
    )
    development = labelled & ~in_oot & ~is_purged
    split = pd.Series(LATEST, index=frame.index, dtype=object)
    split[labelled & in_oot] = OOT
    split[labelled & is_purged] = PURGED
    dev_ids, dev_labels = frame.loc[development, id_column], frame.loc[development, label]
    to_valid = customer_holdout(dev_ids, dev_labels, fraction=valid_fraction, seed=seed)
    split[to_valid.index[to_valid]] = VALID
    split[to_valid.index[~to_valid]] = TRAIN
    _require_rows(split, (TRAIN, VALID, OOT), hint="split.oot_first_snapshot and the table's dates")
    return split


def random_test_splits(
    frame: pd.DataFrame,
    *,
    id_column: str,
    label: str,
    test_fraction: float,
    valid_fraction: float,
    seed: int,
) -> pd.Series:
    """Splits of an undated table: a stratified random ``test`` share of customers, then train/valid."""
    labelled = frame[label].notna()
    ids, labels = frame.loc[labelled, id_column], frame.loc[labelled, label]
    to_test = customer_holdout(ids, labels, fraction=test_fraction, seed=seed)
    rest = to_test.index[~to_test]
    to_valid = customer_holdout(ids[rest], labels[rest], fraction=valid_fraction, seed=seed + 1)
    split = pd.Series(LATEST, index=frame.index, dtype=object)
    split[to_test.index[to_test]] = TEST
    split[to_valid.index[to_valid]] = VALID
    split[to_valid.index[~to_valid]] = TRAIN
    _require_rows(split, (TRAIN, VALID, TEST), hint="split.test_fraction and split.valid_fraction")
    return split


def _require_rows(split: pd.Series, names: tuple[str, ...], *, hint: str) -> None:
    empty = [name for name in names if not (split == name).any()]
    if empty:
        counts = split.value_counts().to_dict()
        raise ValueError(
            f"split(s) {', '.join(empty)} hold no labelled rows (rows per split: {counts}); check {hint}"
        )


def holdout_name(split: pd.Series) -> str:
    """``oot`` for a dated table, ``test`` for the stratified random fallback."""
    return OOT if (split == OOT).any() else TEST


def check_splits(
    frame: pd.DataFrame, split: pd.Series, *, id_column: str, date_column: str | None
) -> None:
    """Raise if a customer sits on both sides of train/valid, or the out-of-time test is not later."""
    ids = frame[id_column]
    shared = set(ids[split == TRAIN]) & set(ids[split == VALID])
    if shared:
        raise AssertionError(
            f"{len(shared)} customers in both train and valid, e.g. {sorted(map(str, shared))[:3]}"
        )
    if date_column and (split == OOT).any():
        dates = pd.to_datetime(frame[date_column])
        last_dev, first_oot = dates[split.isin(FITTED)].max(), dates[split == OOT].min()
        if not last_dev < first_oot:
            raise AssertionError(
                f"out-of-time test starts {first_oot:%Y-%m-%d}, not after development ({last_dev:%Y-%m-%d})"
            )


def split_summary(
    frame: pd.DataFrame, split: pd.Series, *, id_column: str, date_column: str | None, label: str
) -> pd.DataFrame:
    """Rows, customers, events, event rate and date range per split (no outcome figures for ``latest``)."""
    work = pd.DataFrame({"split": split, "customer": frame[id_column], "label": frame[label]})
    if date_column:
        work["date"] = pd.to_datetime(frame[date_column])
    summary = work.groupby("split", sort=False).agg(
        rows=("customer", "size"),
        customers=("customer", "nunique"),
        events=("label", "sum"),
        event_rate=("label", "mean"),
    )
    if date_column:
        summary[["first_date", "last_date"]] = work.groupby("split", sort=False)["date"].agg(
            ["min", "max"]
        )
    # The scored-only rows carry no usable outcome (censored windows keep only their known events).
    summary.loc[summary.index == LATEST, ["events", "event_rate"]] = np.nan
    order = [s for s in SPLITS if s in summary.index]
    return summary.loc[order]


def assign_splits(
    frame: pd.DataFrame,
    *,
    id_column: str,
    date_column: str | None,
    label: str,
    oot_first_snapshot: str,
    horizon_months: int,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
) -> pd.Series:
    """Out-of-time splits for a dated table, the stratified random fallback for an undated one."""
    if date_column:
        return out_of_time_splits(
            frame,
            id_column=id_column,
            date_column=date_column,
            label=label,
            oot_first_snapshot=oot_first_snapshot,
            horizon_months=horizon_months,
            valid_fraction=valid_fraction,
            seed=seed,
        )
    return random_test_splits(
        frame,
        id_column=id_column,
        label=label,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
        seed=seed,
    )
