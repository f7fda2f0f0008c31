"""The as-of date of a source: the day its tables were extracted, and what follows from it.

Every source has an as-of date (DESIGN.md, the input contract). Records dated after it
are refused, open-ended placeholders such as 9999-12-31 read as empty, and labels are
censored at it: the first day after it is the ``observation_end`` of ``research.labels``.
Without it, the latest date found in any table would end the observation, so one
``relationship_end_date`` of 2099-12-31 or a few transactions dated 2031 would switch
censoring off for the last snapshots.

Where the date comes from (``resolve_as_of``), first match wins:

1. configured: ``params.yaml`` → ``data.as_of`` (or ``research validate --as-of``);
2. the synthetic portfolio: the last day of its history (``data.synthetic.start`` plus
   ``months``), which is what the generator writes up to;
3. derived from the tables (``derive_as_of``): the latest record of the last month whose
   record count over the event-time columns (``contract.EVENT_TIME``) reaches
   ``DENSE_SHARE`` of a typical month's, so a handful of stray future dates do not move it
   (they are then refused, by ``after_as_of_errors``).

The counts behind a derivation are daily record counts (``daily_counts``): small, and
addable, so a caller can count a table too large for memory batch by batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from research.data.contract import EVENT_TIME, TABLES
from research.data.schema import SchemaError, _row_error

__all__ = [
    "DENSE_SHARE",
    "OPEN_ENDED_COLUMNS",
    "OPEN_END_PLACEHOLDERS",
    "AsOf",
    "RecordsAfterAsOf",
    "add_counts",
    "after_as_of_errors",
    "check_after_as_of",
    "clear_placeholders",
    "daily_counts",
    "derive_as_of",
    "event_time_counts",
    "resolve_as_of",
    "synthetic_as_of",
]

# Dates bank systems write for "no end yet" (an active relationship, an open facility):
# the largest date a system's date type holds (9999-12-31, SAP's and most databases'
# "high date"; 9999-01-01), Oracle's Julian-calendar maximum (4712-12-31, used as end of
# time by Oracle applications), and round far-future dates (2999-12-31, 3000-01-01,
# 2099-12-31, 2100-01-01). Any time of day on these days counts (9999-12-31 23:59:59).
OPEN_END_PLACEHOLDERS: tuple[str, ...] = (
    "9999-12-31",
    "9999-01-01",
    "4712-12-31",
    "3000-01-01",
    "2999-12-31",
    "2100-01-01",
    "2099-12-31",
)

# The open-ended date columns of the contract: the event times that end something and stay
# empty while it goes on (customers.relationship_end_date, facilities.close_date). Not
# facilities.maturity_date, which lies in the future legitimately.
_ENDING_ROLES = ("end", "close")
OPEN_ENDED_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(column for role, column in roles.items() if role in _ENDING_ROLES)
    for table, roles in EVENT_TIME.items()
    if any(role in _ENDING_ROLES for role in roles)
}

# A month is part of the data when it holds at least this share of a typical month's
# records (typical: the median of the busiest twelve months). Strays below it are ignored
# by the derivation; an extract taken on the second day of a month already passes it.
DENSE_SHARE = 0.05
_BUSIEST_MONTHS = 12

_ISO_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[ T].*)?$")
_DAY = pd.Timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class AsOf:
    """The as-of date of the data, how it was found, and where the data's records start.

    Attributes:
        date: The extract date: records dated after it are refused.
        how: A sentence saying where the date comes from.
        data_from: The first record date of the data's dense months (``None`` when the
            tables were not counted), the start of the range snapshots must lie in.
    """

    date: dt.date
    how: str
    data_from: dt.date | None = None

    @property
    def observation_end(self) -> pd.Timestamp:
        """The first day after the as-of date: labels censor there (``research.labels``)."""
        return (pd.Timestamp(self.date) + _DAY).as_unit("ns")

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} ({self.how})"


# --------------------------------------------------------------------------- placeholders


def clear_placeholders(tables: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Read the open-end placeholders of the open-ended date columns as empty.

    Runs on raw tables (before ``validate_tables``): a column may hold datetimes of any
    unit, ISO text, or date objects; 9999-12-31 does not fit the contract's date type, so
    it has to go before validation. Tables, columns and values of any other kind are left
    as they are (validation reports them).

    Returns:
        The tables (a frame with placeholders is a changed copy; the others are the same
        objects) and one note per column that held any, counting them.
    """
    out = dict(tables)
    notes: list[str] = []
    for table, columns in OPEN_ENDED_COLUMNS.items():
        frame = out.get(table)
        if not isinstance(frame, pd.DataFrame):
            continue
        for column in columns:
            if column not in frame.columns or not isinstance(frame[column], pd.Series):
                continue  # missing or repeated: validation names it
            found = _placeholder_days(frame[column])
            hit = found.notna().to_numpy()
            if not hit.any():
                continue
            frame = frame.copy() if frame is out[table] else frame
            frame[column] = frame[column].where(~hit)
            counts = found[hit].value_counts().sort_index()
            which = ", ".join(f"{day}: {n:,}" for day, n in counts.items())
            notes.append(
                f"{table}.{column}: {int(hit.sum()):,} open-ended placeholder date(s) read as "
                f"empty ({which})"
            )
        out[table] = frame
    return out, notes


def _placeholder_days(values: pd.Series) -> pd.Series:
    """The placeholder day (ISO text) of each value that is one, else missing."""
    empty = pd.Series(np.nan, index=values.index, dtype=object)
    if ptypes.is_datetime64_dtype(values.dtype):  # any unit; 9999-12-31 fits ms, us and s
        days = values.to_numpy().astype("datetime64[D]")
        known = np.array(OPEN_END_PLACEHOLDERS, dtype="datetime64[D]")
        hit = np.isin(days, known)
        return empty.mask(hit, pd.Series(days.astype(str), index=values.index))
    textual = (
        ptypes.is_object_dtype(values.dtype)
        or ptypes.is_string_dtype(values.dtype)
        or isinstance(values.dtype, pd.CategoricalDtype)
    )
    if not textual:
        return empty
    present = values.dropna()
    text = present.astype(object).map(str)  # ISO text, dates, datetimes, datetime64 alike
    day = text.str.extract(_ISO_DAY, expand=False)
    day = day.where(day.isin(OPEN_END_PLACEHOLDERS))
    return empty.mask(day.reindex(values.index).notna(), day.reindex(values.index))


# --------------------------------------------------------------------------- record counts


def daily_counts(values: pd.Series | np.ndarray) -> pd.Series:
    """Records per calendar day of datetime ``values`` (index: the days, midnight; sorted)."""
    stamps = np.asarray(values, dtype="datetime64[ns]")
    days = stamps[~np.isnat(stamps)].astype("datetime64[D]").astype("datetime64[ns]")
    counts = pd.Series(days.view("i8")).value_counts(sort=False).sort_index()
    return pd.Series(
        counts.to_numpy(dtype="int64"),
        index=pd.DatetimeIndex(counts.index.to_numpy().view("datetime64[ns]")),
        name="records",
    )


def add_counts(parts: Iterable[pd.Series]) -> pd.Series:
    """The sum of daily counts (``daily_counts``) of several columns or batches."""
    total = pd.Series(dtype="int64", index=pd.DatetimeIndex([], dtype="datetime64[ns]"))
    for part in parts:
        total = total.add(part, fill_value=0)
    return total.astype("int64").sort_index().rename("records")


def event_time_counts(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Records per day over every event-time column (``contract.EVENT_TIME``) of validated tables."""
    return add_counts(
        daily_counts(tables[table][column])
        for table, columns in EVENT_TIME.items()
        if table in tables and tables[table] is not None
        for column in columns.values()
        if column in tables[table].columns
    )


def _dense_months(counts: pd.Series) -> tuple[pd.Series, pd.Series, float, float]:
    """Records per month, which months are dense, the typical monthly count and the bar."""
    monthly = counts.groupby(counts.index.to_period("M")).sum()
    typical = float(monthly.nlargest(_BUSIEST_MONTHS).median())
    bar = DENSE_SHARE * typical
    return monthly, monthly >= bar, typical, bar


def derive_as_of(
    tables: Mapping[str, pd.DataFrame], *, counts: pd.Series | None = None
) -> tuple[dt.date, str]:
    """The as-of date of a bank's own tables when none is configured, and how it was found.

    The latest record of the last month whose record count over the event-time columns
    reaches ``DENSE_SHARE`` of a typical month's (the median of the twelve busiest). A
    few stray future dates (a typo, a scheduled date in the wrong column) fall in months
    below that bar and do not move it.

    Args:
        tables: Validated tables (only their event-time columns are read).
        counts: Their daily record counts (``event_time_counts``), when already counted;
            ``tables`` is then not read.

    Raises:
        ValueError: If no event-time column holds a date.
    """
    counts = event_time_counts(tables) if counts is None else counts
    if counts.empty:
        raise ValueError(
            "as-of date: no event-time column of the tables holds a date, so it cannot be "
            "derived; Fix: set data.as_of in params.yaml (or --as-of) to the extract date"
        )
    _, dense, typical, _ = _dense_months(counts)
    last_month = dense[dense].index.max()
    in_month = counts[counts.index.to_period("M") == last_month]
    date = in_month.index.max().date()
    later = counts[counts.index > pd.Timestamp(date)]
    how = (
        f"derived from the tables' dates: the latest record of {last_month}, the last month "
        f"holding at least {DENSE_SHARE:.0%} of a typical month's records "
        f"({typical:,.0f} a month)"
    )
    if later.empty:
        how += "; no record is dated after it"
    else:
        months = later.index.to_period("M").nunique()
        how += (
            f"; {int(later.sum()):,} record(s) in {months} later sparse month(s), up to "
            f"{later.index.max():%Y-%m-%d}, are dated after it"
        )
    return date, how


def _data_from(counts: pd.Series) -> dt.date | None:
    """The first record date of the first dense month (None without records)."""
    if counts.empty:
        return None
    _, dense, _, _ = _dense_months(counts)
    first_month = dense[dense].index.min()
    return counts[counts.index.to_period("M") == first_month].index.min().date()


def synthetic_as_of(start: str, months: int) -> dt.date:
    """The last day of a synthetic history of ``months`` months from ``start``."""
    end = pd.Timestamp(start).to_period("M").start_time + pd.DateOffset(months=months)
    return (end - _DAY).date()


def resolve_as_of(
    configured: str,
    tables: Mapping[str, pd.DataFrame] | None,
    synthetic_end: dt.date | None,
    *,
    counts: pd.Series | None = None,
    configured_as: str = "params.yaml data.as_of",
) -> AsOf:
    """The as-of date: configured, else the synthetic history's end, else derived.

    Deterministic from its arguments, so every stage that resolves it from the same params
    and data gets the same date.

    Args:
        configured: An ISO date, or "" when none is configured.
        tables: The validated tables (their event-time columns are counted), or None
            when ``counts`` is given.
        synthetic_end: The last day of the synthetic portfolio's history
            (``synthetic_as_of``); None for a bank's own tables.
        counts: The tables' daily record counts (``event_time_counts``), instead of ``tables``.
        configured_as: Where ``configured`` was set, for the sentence saying how.
    """
    if counts is None:
        counts = event_time_counts(tables or {})
    data_from = _data_from(counts)
    if configured:
        try:
            date = dt.date.fromisoformat(configured)
        except ValueError:
            raise ValueError(
                f"as-of date: {configured_as} must be an ISO date (YYYY-MM-DD), got {configured!r}"
            ) from None
        return AsOf(date, f"configured: {configured_as}", data_from)
    if synthetic_end is not None:
        return AsOf(
            synthetic_end,
            "the last day of the synthetic portfolio's history "
            "(data.synthetic.start plus data.synthetic.months)",
            data_from,
        )
    date, how = derive_as_of({}, counts=counts)
    return AsOf(date, how, data_from)


# --------------------------------------------------------------------------- refusal


def after_as_of_errors(
    tables: Mapping[str, pd.DataFrame], as_of: AsOf | dt.date
) -> list[SchemaError]:
    """Every event-time column holding records dated after the as-of date, as schema errors.

    One ``SchemaError`` per table and column (in contract order), worded like the rules of
    ``research.data.schema``: the rule ``dated after the as-of date YYYY-MM-DD``, the count,
    the range of the offending dates, up to five example rows and the fix. A timestamp on
    the as-of date itself is not after it.
    """
    date = as_of.date if isinstance(as_of, AsOf) else as_of
    end = (pd.Timestamp(date) + _DAY).as_unit("ns").to_datetime64()
    rule = f"dated after the as-of date {date:%Y-%m-%d}"
    errors = []
    for table, spec in TABLES.items():
        frame = tables.get(table)
        if frame is None:
            continue
        for column in dict.fromkeys(EVENT_TIME[table].values()):
            if column not in frame.columns:
                continue
            stamps = frame[column].to_numpy(dtype="datetime64[ns]")
            bad = stamps >= end  # NaT compares False
            if not bad.any():
                continue
            late = stamps[bad]
            errors.append(
                _row_error(
                    spec,
                    column,
                    rule,
                    frame,
                    bad,
                    "set data.as_of to the extract date, or remove these rows",
                    detail=(
                        f"dated {pd.Timestamp(late.min()):%Y-%m-%d} .. "
                        f"{pd.Timestamp(late.max()):%Y-%m-%d}"
                    ),
                )
            )
    return errors


class RecordsAfterAsOf(SchemaError):
    """Records dated after the as-of date, in one or more tables (``errors``, one per column).

    Its table, column, rule and examples are those of the first error; its message lists
    them all.
    """

    def __init__(self, as_of: AsOf | dt.date, errors: list[SchemaError]) -> None:
        first = errors[0]
        said = as_of if isinstance(as_of, AsOf) else f"{as_of:%Y-%m-%d}"
        columns = ", ".join(f"{e.table}.{e.column}" for e in errors)
        message = f"records dated after the as-of date {said} in {columns}\n\n" + "\n\n".join(
            str(e) for e in errors
        )
        super().__init__(message, first.table, first.column, first.rule, first.examples)
        self.as_of = as_of
        self.errors = errors

    def __reduce__(self):  # keeps the errors when pickled (e.g. across processes)
        return (type(self), (self.as_of, self.errors))


def check_after_as_of(tables: Mapping[str, pd.DataFrame], as_of: AsOf | dt.date) -> None:
    """Raise ``RecordsAfterAsOf`` naming every column with records dated after the as-of date."""
    errors = after_as_of_errors(tables, as_of)
    if errors:
        raise RecordsAfterAsOf(as_of, errors)
