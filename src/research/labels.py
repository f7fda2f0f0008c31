"""Default and churn labels over the performance window that starts at the snapshot.

Where the event dates come from (``event_dates``, the one source every caller uses: the
labels, the panel's exclusion of customers in default, the event rates of the data stage):

- The bank's own ``events`` table (``research.data.contract.EVENTS``), when it holds rows
  of the event's type: a customer's date is its first ``default`` (or ``churn``) event.
  Other types (``other``, ``unknown``) define no label.
- Otherwise derived from the tables. Default: an instalment reaches ``default_dpd`` days
  past due on ``due_date + default_dpd days`` unless it was paid before that day; a
  customer's default date is the first such day over all facilities. Churn: the
  relationship end date.

The choice is per event type and table-wide, never per customer: a bank that records
only defaults keeps churn from the relationship end dates, and one definition of an
event holds for every customer (a customer without a ``default`` row in an events table
that has defaults did not default by the bank's definition; mixing in 90-days-past-due
defaults derived from repayments for some customers would mix two definitions).

A label is 1 when the customer's event date lies in ``[s, s + H months)``, 0 when the
whole window lies inside the data without the event, and NaN (censored) when the
window runs past ``observation_end`` (the first day after the as-of date of the data,
``research.data.asof``) and no event was observed inside it. An event on or after
``observation_end`` is not observed. The pipeline censors at the as-of date, never at the
latest date found in the tables: one open-ended 2099-12-31 or a few stray future-dated
records would otherwise switch censoring off for the last snapshots.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from research._params import check
from research.data.contract import EVENT_TIME

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# numpy, pandas and pyarrow are imported by the functions that compute labels: the settings
# (``LabelParams``, the label names) are read by every stage, ``research source-fingerprint``
# included, which DVC runs on every ``dvc repro`` and which never touches a table.

# The bank's own events table (``research.data.contract.EVENTS``).
EVENTS_TABLE = "events"
DEFAULT_EVENT, CHURN_EVENT = "default", "churn"  # label events (names of LABEL_EVENTS)


@dataclasses.dataclass(frozen=True)
class LabelParams:
    """``params.yaml`` → ``labels``: what a default is and which label windows the panel carries."""

    default_dpd: int
    horizons_months: list[int]

    def __post_init__(self) -> None:
        check(self.default_dpd >= 1, "labels.default_dpd", "must be at least 1 day")
        check(
            len(self.horizons_months) >= 1,
            "labels.horizons_months",
            "must name at least one horizon",
        )
        check(
            all(h >= 1 for h in self.horizons_months),
            "labels.horizons_months",
            "must be positive months",
        )
        check(
            len(set(self.horizons_months)) == len(self.horizons_months),
            "labels.horizons_months",
            "must not repeat a horizon",
        )


def label_name(event: str, horizon_months: int) -> str:
    """The panel column of ``event`` within ``horizon_months`` months, e.g. ``default_12m``."""
    return f"{event}_{horizon_months}m"


def label_names(horizons_months: Sequence[int]) -> list[str]:
    """Every label column the panel carries: each event at each horizon (events outer)."""
    return [label_name(event, h) for event in LABEL_EVENTS for h in horizons_months]


def parse_label_name(name: str) -> tuple[str, int] | None:
    """``(event, horizon_months)`` of a panel label column, or ``None`` for any other name."""
    match = re.fullmatch(r"([a-z]+)_(\d+)m", name)
    if match is None or match.group(1) not in LABEL_EVENTS:
        return None
    return match.group(1), int(match.group(2))


def observation_end(
    tables: Mapping[str, pd.DataFrame], as_of: dt.date | None = None
) -> pd.Timestamp:
    """The first day after the data: where labels censor.

    Args:
        tables: Validated tables; read only when ``as_of`` is not given.
        as_of: The as-of date of the data (``research.data.asof.resolve_as_of``): the
            result is the day after it. The pipeline always passes it. Without it, the
            latest event-time date found in any table plus one day: right for tables
            known to end at their extract date (tests, generated data), but one open-ended
            placeholder or stray future date moves it (issue 13), so a bank's data goes
            through the as-of date.
    """
    import pandas as pd

    if as_of is not None:
        return (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).as_unit("ns")
    latest = None
    for table, columns in EVENT_TIME.items():
        frame = tables.get(table)
        if frame is None:
            continue
        for column in columns.values():
            if column in frame and len(frame):
                value = frame[column].max()
                if pd.notna(value) and (latest is None or value > latest):
                    latest = value
    if latest is None:
        raise ValueError(
            "observation_end: no event dates in any table (customers.onboarding_date is empty); "
            "pass observation_end (or the as-of date) explicitly"
        )
    return (pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)).as_unit("ns")


_observation_end = observation_end  # reachable where a parameter has the same name


def default_dates(repayments: pd.DataFrame, default_dpd: int) -> pd.Series:
    """First default date per customer (customer_id to date, sorted by id; customers without one are absent).

    The date can lie after the data for an instalment still unpaid at its end; labels treat
    such a default as not observed.
    """
    import pandas as pd

    due = repayments["due_date"].astype("datetime64[ns]")
    reached = due + pd.Timedelta(days=default_dpd)
    paid = repayments["paid_date"].astype("datetime64[ns]")
    defaulted = due.notna() & (paid.isna() | (paid >= reached))
    first = (
        pd.DataFrame(
            {
                "customer_id": repayments["customer_id"][defaulted],
                "default_date": reached[defaulted],
            }
        )
        .groupby("customer_id", sort=True)["default_date"]
        .min()
    )
    first.index = first.index.astype("str")
    return first.astype("datetime64[ns]")


def churn_dates(customers: pd.DataFrame) -> pd.Series:
    """Relationship end date per customer that has one (customer_id to date)."""
    import pandas as pd

    ended = customers[customers["relationship_end_date"].notna()]
    out = pd.Series(
        ended["relationship_end_date"].astype("datetime64[ns]").to_numpy(),
        index=pd.Index(ended["customer_id"].astype("str"), name="customer_id"),
        name="churn_date",
    )
    return out.sort_index()


def bank_event_dates(events: pd.DataFrame | None, event: str) -> pd.Series | None:
    """First ``event`` date per customer in the bank's events table; None when it has no such row.

    Returns a Series like ``default_dates`` (customer_id to date, sorted by id), or None
    when ``events`` is absent or holds no row of type ``event`` (the caller falls back to
    deriving the dates from the other tables).
    """
    import pandas as pd

    if events is None or not len(events):
        return None
    of_type = events[events["event_type"].astype("str") == event]
    dated = of_type[of_type["event_date"].notna()]
    if dated.empty:
        return None
    first = (
        pd.DataFrame(
            {
                "customer_id": dated["customer_id"].astype("str").to_numpy(),
                f"{event}_date": dated["event_date"].astype("datetime64[ns]").to_numpy(),
            }
        )
        .groupby("customer_id", sort=True)[f"{event}_date"]
        .min()
    )
    first.index = first.index.astype("str")
    return first.astype("datetime64[ns]")


def _default_event(tables: Mapping[str, pd.DataFrame], default_dpd: int) -> pd.Series | None:
    repayments = tables.get("repayments")
    return None if repayments is None else default_dates(repayments, default_dpd)


def _churn_event(tables: Mapping[str, pd.DataFrame], default_dpd: int) -> pd.Series | None:
    return churn_dates(tables["customers"])


# How each event a label can count is derived from the tables, by the name that starts its
# column (``default_12m``): the first date per customer, or None when the tables cannot say
# (the label is then unknown throughout). A new kind of label is one function here.
EventDates = Callable[[Mapping[str, "pd.DataFrame"], int], "pd.Series | None"]
DERIVED_EVENTS: dict[str, EventDates] = {DEFAULT_EVENT: _default_event, CHURN_EVENT: _churn_event}


DERIVED = "derived"  # the source of an event's dates that the events table does not hold


def label_sources(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Where each label event's dates come from: ``events`` (the bank's table has rows of its type) or ``derived``.

    Decide it once on the whole tables and pass it on (``event_dates(..., source=)``,
    ``build_panel(label_sources=)``) wherever the tables are cut by customer (batches of
    event anchors, Dask partitions): a part without any default row must still not
    derive defaults from its repayments.
    """
    events = tables.get(EVENTS_TABLE)
    return {
        event: DERIVED if bank_event_dates(events, event) is None else EVENTS_TABLE
        for event in DERIVED_EVENTS
    }


def event_source(tables: Mapping[str, pd.DataFrame], event: str) -> str:
    """Where ``event_dates`` takes ``event``'s dates from: ``events`` or ``derived``."""
    return label_sources(tables)[event]


def event_dates(
    tables: Mapping[str, pd.DataFrame], event: str, default_dpd: int, *, source: str | None = None
) -> pd.Series | None:
    """First date of ``event`` (a key of ``LABEL_EVENTS``) per customer: the one source for every caller.

    The bank's ``events`` table when it holds rows of that type, else derived from the
    tables (``DERIVED_EVENTS``: repayments for defaults, relationship end dates for churn);
    None when neither can say. Customer ids as a sorted ``str`` index, dates datetime64[ns].
    ``source`` (``label_sources`` of the whole tables) overrides the choice for a part of them.
    """
    import pandas as pd

    if event not in DERIVED_EVENTS:
        raise KeyError(f"unknown label event {event!r}; known: {', '.join(DERIVED_EVENTS)}")
    if (source or event_source(tables, event)) == DERIVED:
        return DERIVED_EVENTS[event](tables, default_dpd)
    found = bank_event_dates(tables.get(EVENTS_TABLE), event)
    if found is None:  # this part of the tables holds no such event: nobody had it
        return pd.Series(
            pd.Series([], dtype="datetime64[ns]").to_numpy(),
            index=pd.Index([], dtype="str", name="customer_id"),
            name=f"{event}_date",
        )
    return found


def _dates_of(event: str) -> EventDates:
    def dates(tables: Mapping[str, pd.DataFrame], default_dpd: int) -> pd.Series | None:
        return event_dates(tables, event, default_dpd)

    dates.__name__ = f"{event}_dates"
    return dates


# Every event a label can count, by the name that starts its column, and its dates as
# ``event_dates`` gives them (the events table first): ``LABEL_EVENTS[e](tables, dpd)``.
LABEL_EVENTS: dict[str, EventDates] = {event: _dates_of(event) for event in DERIVED_EVENTS}


def event_source_notes(sources: Mapping[str, str]) -> list[str]:
    """One note per label event taken from the bank's events table (``label_sources``)."""
    return [
        f"{EVENTS_TABLE}: {event} dates from the events table (first {event!r} event per "
        "customer), not derived"
        for event, source in sources.items()
        if source == EVENTS_TABLE
    ]


def event_labels(
    keys: pd.DataFrame,
    event_dates: pd.Series,
    *,
    horizon_months: int,
    observation_end: pd.Timestamp,
) -> np.ndarray:
    """1.0 / 0.0 / NaN per row of ``keys`` (``customer_id``, ``snapshot_date``) for an event in the window."""
    import numpy as np
    import pandas as pd

    snapshot = keys["snapshot_date"].to_numpy(dtype="datetime64[ns]")
    horizon = _add_months(snapshot, horizon_months)
    event = _lookup(keys["customer_id"], event_dates)
    end = pd.Timestamp(observation_end).as_unit("ns").to_datetime64()
    observed = ~np.isnat(event) & (event < end)
    hit = observed & (event >= snapshot) & (event < horizon)
    out = hit.astype(np.float64)
    out[(horizon > end) & ~hit] = np.nan
    return out


def _lookup(customer_ids: pd.Series, dates: pd.Series) -> np.ndarray:
    """The date of each customer id (NaT where it has none)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    position = pc.index_in(
        pa.array(customer_ids.astype("str").array),
        value_set=pa.array(dates.index.astype("str").array),
    )
    position = position.fill_null(-1).to_numpy(zero_copy_only=False)
    values = np.append(dates.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    return values[position]


def _add_months(dates: np.ndarray, months: int) -> np.ndarray:
    """``dates + months`` calendar months, computed once per distinct date."""
    import numpy as np
    import pandas as pd

    unique, inverse = np.unique(dates, return_inverse=True)
    shifted = np.array(
        [
            (pd.Timestamp(d) + pd.DateOffset(months=months)).as_unit("ns").to_datetime64()
            for d in unique
        ]
    )
    return shifted.astype("datetime64[ns]")[inverse] if len(unique) else dates.copy()


def panel_labels(
    keys: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    *,
    default_dpd: int,
    horizons_months: Sequence[int],
    observation_end: pd.Timestamp | None = None,
    sources: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Every label column (``label_names``) for the rows of ``keys``.

    Event dates come from ``event_dates`` (the events table, else derived; ``sources``
    as ``label_sources`` of the whole tables gives the choice). An event whose dates
    nothing can say (no events of its type and no ``repayments`` for defaults) is NaN
    throughout (unknown).
    """
    import numpy as np
    import pandas as pd

    end = _observation_end(tables) if observation_end is None else observation_end
    sources = label_sources(tables) if sources is None else sources
    out = pd.DataFrame(index=keys.index)
    for event in LABEL_EVENTS:
        dates = event_dates(tables, event, default_dpd, source=sources[event])
        for horizon in horizons_months:
            name = label_name(event, horizon)
            if dates is None:
                out[name] = np.nan
            else:
                out[name] = event_labels(keys, dates, horizon_months=horizon, observation_end=end)
    return out
