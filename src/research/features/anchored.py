"""The event-anchored panel: one row per anchor event, for origination scoring.

A calendar panel takes every customer at common snapshot dates; origination scoring
needs each customer at its own date instead: an application's decision date, or the dates
of a user-given table (``features.snapshots.mode: events``). Each anchored row is a
panel row whose snapshot is the anchor date (midnight; a time of day is read as the
day's midnight), under the same rules as the calendar panel:

- Point in time: features use only records strictly before the anchor date; labels look
  forward from it (``research.labels``, the same event dates and censoring).
- Eligibility: the customer was onboarded before the date, had not ended the
  relationship and was not in default before it. An anchor that fails is dropped and
  counted in the notes by reason; so is an anchor of an unknown customer or without a
  date. Two anchors of one customer on one day are one row (the first anchor's id).
- Peer-relative features (``research.features.peers``) compare a firm with the book.
  An anchored firm's peers are the book at the month start on or before its anchor date
  (every panel row of the calendar snapshot at that month start), with the firm's own row
  there replaced by its anchored value. The book at a month start sees only records
  before it, so the comparison stays point in time; an anchor on a month start gets
  exactly the calendar panel's value. (The anchored rows of the same month are no peer
  group: a row anchored on the 2nd would see the features of one anchored on the 30th,
  built from records after the 2nd.)

Building: the calendar grid is dense (customers by snapshots), so the anchors are taken in
batches of consecutive distinct dates, each restricted to the customers anchored in it
(``build_panel`` on the tables cut to those customers), and only the anchored
(customer, date) pairs are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from research import labels
from research.features._grid import NAT, NEVER, arrow_strings, first_dates, to_ns
from research.features.params import ANCHOR_ID_COLUMNS, ANCHOR_SUFFIXES, APPLICATION_ANCHORS
from research.features.peers import RULES
from research.features.snapshot import build_panel

__all__ = [
    "ANCHOR_ID_COLUMNS",
    "anchors_from",
    "application_anchors",
    "build_anchored_panel",
    "read_anchor_table",
    "select_anchors",
]

ANCHOR_DATE = "anchor_date"  # the date column of a user-given anchor table
_KEYS = ["customer_id", "snapshot_date"]
# Batches: at most this many distinct anchor dates, and customers x dates grid cells.
BATCH_DATES = 32
BATCH_CELLS = 200_000


# --------------------------------------------------------------------------- anchors


def application_anchors(
    applications: pd.DataFrame, column: str = "decided_date"
) -> tuple[pd.DataFrame, list[str]]:
    """Anchors at each application's ``decided_date`` (or ``submitted_date``), with its id.

    Returns ``customer_id``, ``snapshot_date`` and ``application_id``, and a note counting
    the applications without that date (not yet decided: no anchor).
    """
    if column not in ("decided_date", "submitted_date"):
        raise ValueError(
            f"application_anchors: column must be decided_date or submitted_date, got {column!r}"
        )
    dated = applications[applications[column].notna()]
    notes = []
    if len(dated) < len(applications):
        notes.append(
            f"anchors: {len(applications) - len(dated):,} of {len(applications):,} applications "
            f"have no {column} and no anchor"
        )
    frame = pd.DataFrame(
        {
            "customer_id": dated["customer_id"].astype("str").to_numpy(),
            "snapshot_date": dated[column].to_numpy(dtype="datetime64[ns]"),
            "application_id": dated["application_id"].astype("str").to_numpy(),
        }
    )
    return frame, notes


def read_anchor_table(path: str | Path) -> pd.DataFrame:
    """A user-given anchor table (Parquet or CSV): ``customer_id``, ``anchor_date``, optional ``anchor_id``.

    Returns ``customer_id``, ``snapshot_date`` (and ``anchor_id`` when the table has one).

    Raises:
        FileNotFoundError, ValueError: Naming the file and what is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"features.snapshots.anchors: {path} not found (a Parquet or CSV table of "
            "customer_id, anchor_date and optionally anchor_id)"
        )
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        raw = pd.read_parquet(path)
    elif name.endswith(ANCHOR_SUFFIXES):
        raw = pd.read_csv(path, dtype={"customer_id": "str", "anchor_id": "str"})
    else:
        raise ValueError(f"features.snapshots.anchors: {path} is neither Parquet nor CSV")
    missing = [c for c in ("customer_id", ANCHOR_DATE) if c not in raw.columns]
    if missing:
        raise ValueError(
            f"features.snapshots.anchors: {path} lacks the column(s) {missing}; it has "
            f"{list(raw.columns)} (needed: customer_id, {ANCHOR_DATE}; optional: anchor_id)"
        )
    try:
        dates = pd.to_datetime(raw[ANCHOR_DATE], format="mixed")
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"features.snapshots.anchors: {path}: {ANCHOR_DATE} is not a date column ({err})"
        ) from None
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("str").where(raw["customer_id"].notna()),
            "snapshot_date": dates.astype("datetime64[ns]"),
        }
    )
    if "anchor_id" in raw.columns:
        frame["anchor_id"] = raw["anchor_id"].astype("str")
    return frame


def anchors_from(
    spec: str, tables: Mapping[str, pd.DataFrame], *, root: Path | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The anchors ``features.snapshots.anchors`` names, and notes on what had none.

    ``applications`` (= ``applications.decided_date``) or ``applications.submitted_date``
    read the applications table; any other value is the path of an anchor table
    (``read_anchor_table``), relative to ``root`` unless absolute.
    """
    spec = spec.strip()
    if spec in APPLICATION_ANCHORS:
        if tables.get("applications") is None:
            raise ValueError(
                f"features.snapshots.anchors: {spec!r} needs the applications table, which the "
                "data has not; Fix: give an anchor table's path, or use mode: calendar"
            )
        column = "submitted_date" if spec.endswith("submitted_date") else "decided_date"
        return application_anchors(tables["applications"], column)
    path = Path(spec)
    if not path.is_absolute() and root is not None:
        path = root / path
    return read_anchor_table(path), []


def select_anchors(
    anchors: pd.DataFrame,
    *,
    after: pd.Timestamp | None,
    through: pd.Timestamp,
    what: str = "the data",
) -> tuple[pd.DataFrame, list[str]]:
    """The anchors dated after ``after`` and on or before ``through``; a note counts the others.

    The stage passes the first record date of the data (a row on or before it would see no
    record) and the day after the as-of date (or ``features.snapshots.first``/``last``).
    """
    dates = anchors["snapshot_date"].dt.normalize()
    inside = (dates <= through) & (dates > after if after is not None else True)
    keep = inside | dates.isna()  # no date: dropped and counted by build_anchored_panel
    dropped = int((~keep).sum())
    notes = []
    if dropped:
        lower = f"after {after:%Y-%m-%d} and " if after is not None else ""
        notes.append(
            f"anchors: {dropped:,} of {len(anchors):,} dated outside {what} ({lower}on or "
            f"before {through:%Y-%m-%d}) are dropped"
        )
    return anchors[keep.to_numpy()].reset_index(drop=True), notes


def _prepared(anchors: pd.DataFrame) -> tuple[pd.DataFrame, str | None, list[str]]:
    """Anchors with a customer and a day (midnight), one per customer and day; notes on the rest."""
    id_column = next((c for c in ANCHOR_ID_COLUMNS if c in anchors.columns), None)
    frame = pd.DataFrame(
        {
            "customer_id": anchors["customer_id"],
            "snapshot_date": pd.to_datetime(anchors["snapshot_date"]).astype("datetime64[ns]"),
        }
    )
    if id_column:
        frame[id_column] = anchors[id_column].astype("str").to_numpy()
    notes = []
    unusable = frame["customer_id"].isna() | frame["snapshot_date"].isna()
    if unusable.any():
        notes.append(f"anchors: {int(unusable.sum()):,} without a customer or a date are dropped")
        frame = frame[~unusable.to_numpy()]
    frame = frame.assign(customer_id=frame["customer_id"].astype("str"))
    day = frame["snapshot_date"].dt.normalize()
    timed = int((day != frame["snapshot_date"]).sum())
    if timed:
        notes.append(
            f"anchors: {timed:,} with a time of day are taken at their day's midnight "
            "(features see the records before that day)"
        )
    frame = frame.assign(snapshot_date=day)
    unique = frame.drop_duplicates(_KEYS, keep="first")
    if len(unique) < len(frame):
        notes.append(
            f"anchors: {len(frame) - len(unique):,} fall on a day that already anchors the same "
            f"customer: one row per customer and day{f' (the first {id_column})' if id_column else ''}"
        )
    return unique.reset_index(drop=True), id_column, notes


def _eligible(
    anchors: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    default_dpd: int,
    sources: Mapping[str, str],
) -> tuple[np.ndarray, list[str]]:
    """Which anchors make a panel row (the calendar panel's rule), and a note per reason not."""
    customers = tables["customers"]
    ids = arrow_strings(customers["customer_id"])
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    ids = ids.cast(pa.string())
    universe = pd.Index(customers["customer_id"].astype("str").to_numpy())
    at = universe.get_indexer(anchors["customer_id"].to_numpy())
    known = at >= 0
    where = np.where(known, at, len(universe))  # an unknown customer takes the sentinel

    def per_anchor(values: np.ndarray, sentinel: int) -> np.ndarray:
        return np.append(values, np.int64(sentinel))[where]

    s = anchors["snapshot_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    onboard = per_anchor(to_ns(customers["onboarding_date"]), NAT)
    ended = per_anchor(to_ns(customers["relationship_end_date"], missing=NEVER), NEVER)
    default = labels.event_dates(
        tables, labels.DEFAULT_EVENT, default_dpd, source=sources[labels.DEFAULT_EVENT]
    )
    gone = (  # derived churn is the relationship end date, read above
        labels.event_dates(tables, labels.CHURN_EVENT, default_dpd, source=labels.EVENTS_TABLE)
        if sources[labels.CHURN_EVENT] == labels.EVENTS_TABLE
        else None
    )
    first = {
        name: (
            per_anchor(first_dates(ids, dates), NEVER)
            if dates is not None and len(dates)
            else np.full(len(s), NEVER, dtype=np.int64)
        )
        for name, dates in (("default", default), ("gone", gone))
    }
    not_onboarded = known & ~((onboard != NAT) & (onboard < s))
    ended_before = known & ~not_onboarded & ((ended < s) | (first["gone"] < s))
    in_default = known & ~not_onboarded & ~ended_before & (first["default"] < s)
    reasons = {
        "unknown customer": ~known,
        "not onboarded before the date": not_onboarded,
        "relationship ended before the date": ended_before,
        "in default before the date": in_default,
    }
    keep = ~np.logical_or.reduce(list(reasons.values()))
    counts = {reason: int(mask.sum()) for reason, mask in reasons.items() if mask.any()}
    notes = []
    if counts:
        detail = ", ".join(f"{reason}: {n:,}" for reason, n in counts.items())
        notes.append(
            f"anchors: {len(anchors) - int(keep.sum()):,} of {len(anchors):,} make no panel row "
            f"and are dropped ({detail})"
        )
    return keep, notes


# --------------------------------------------------------------------------- batches


def _batches(anchors: pd.DataFrame, *, max_dates: int, max_cells: int) -> list[np.ndarray]:
    """Row positions of ``anchors`` per batch of consecutive distinct dates."""
    order = np.argsort(anchors["snapshot_date"].to_numpy(), kind="stable")
    dates = anchors["snapshot_date"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
    bounds = np.r_[starts, len(dates)]
    customers = anchors["customer_id"].to_numpy()[order]
    out: list[np.ndarray] = []
    seen: set[str] = set()
    begin, n_dates = 0, 0
    for i in range(len(starts)):
        chunk = set(customers[bounds[i] : bounds[i + 1]])
        cells = len(seen | chunk) * (n_dates + 1)
        if n_dates and (n_dates >= max_dates or cells > max_cells):
            out.append(order[begin : bounds[i]])
            begin, seen, n_dates = bounds[i], set(), 0
        seen |= chunk
        n_dates += 1
    if len(order):
        out.append(order[begin:])
    return out


class _CustomerIndex:
    """Each table's rows grouped by customer once, so a batch cuts them out by customer cheaply."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.tables = tables
        self.universe = pd.Index(pd.unique(tables["customers"]["customer_id"].astype("str")))
        self.sorted_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, frame in tables.items():
            if "customer_id" not in frame.columns:
                continue
            codes = self.universe.get_indexer(frame["customer_id"].astype("str"))
            order = np.argsort(codes, kind="stable")
            self.sorted_rows[name] = (codes[order], order)

    def cut(self, customer_ids: Sequence[str]) -> dict[str, pd.DataFrame]:
        """Every table restricted to ``customer_ids`` (rows in input order)."""
        wanted = np.unique(self.universe.get_indexer(list(customer_ids)))
        wanted = wanted[wanted >= 0]
        out = {}
        for name, frame in self.tables.items():
            if name not in self.sorted_rows:
                out[name] = frame
                continue
            codes, order = self.sorted_rows[name]
            lo = np.searchsorted(codes, wanted, side="left")
            hi = np.searchsorted(codes, wanted, side="right")
            lengths = hi - lo
            if lengths.sum() == 0:
                out[name] = frame.iloc[0:0]
                continue
            offsets = np.repeat(lo - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
            rows = np.sort(order[np.arange(lengths.sum()) + offsets])
            out[name] = frame.take(rows).reset_index(drop=True)
        return out


# --------------------------------------------------------------------------- the panel


def build_anchored_panel(
    tables: Mapping[str, pd.DataFrame],
    anchors: pd.DataFrame,
    *,
    observation_end: pd.Timestamp,
    default_dpd: int,
    horizons_months: Sequence[int],
    peer_relative: bool = True,
    n_threads: int = 2,
    max_dates: int = BATCH_DATES,
    max_cells: int = BATCH_CELLS,
    label_sources: Mapping[str, str] | None = None,
    **feature_settings: Any,
) -> tuple[pd.DataFrame, list[str]]:
    """One panel row per anchor: ``customer_id``, ``snapshot_date`` (the anchor's day), the anchor id, features, labels.

    Args:
        tables: Validated input tables (``customers`` required).
        anchors: ``customer_id`` and ``snapshot_date`` per anchor event, optionally an id
            column (``ANCHOR_ID_COLUMNS``), as ``anchors_from`` reads them.
        observation_end: The day after the as-of date (labels censor there).
        default_dpd, horizons_months: As for ``build_panel``.
        peer_relative: Compare the peer features with the book at the month start on or
            before each anchor (module docstring); False keeps them raw.
        n_threads: Families built at once within a batch.
        max_dates, max_cells: Batch size: distinct anchor dates, and customers x dates.
        label_sources: ``research.labels.label_sources`` of the tables (None: decided here).
        **feature_settings: The window settings of ``build_panel``.

    Returns:
        The panel in the calendar panel's layout, the anchor id column (if any) after
        ``snapshot_date``, sorted by date then customer; and notes on dropped anchors and
        absent tables.
    """
    present = {name: frame for name, frame in tables.items() if frame is not None}
    if "customers" not in present:
        raise ValueError("build_anchored_panel: the customers table is required")
    prepared, id_column, notes = _prepared(anchors)
    # Decided on the whole tables: a batch cut to a few customers decides nothing itself.
    sources = labels.label_sources(present) if label_sources is None else dict(label_sources)
    keep, dropped = _eligible(prepared, present, default_dpd, sources)
    notes += dropped
    kept = prepared[keep].reset_index(drop=True)
    settings = {
        "default_dpd": default_dpd,
        "horizons_months": list(horizons_months),
        "observation_end": pd.Timestamp(observation_end).as_unit("ns"),
        "n_threads": n_threads,
        "peer_relative": False,
        "label_sources": sources,
        **feature_settings,
    }
    index = _CustomerIndex(present)
    parts, table_notes = [], None
    for rows in _batches(kept, max_dates=max_dates, max_cells=max_cells):
        batch = kept.iloc[rows]
        cut = index.cut(batch["customer_id"].unique())
        panel, batch_notes = build_panel(cut, sorted(batch["snapshot_date"].unique()), **settings)
        table_notes = batch_notes if table_notes is None else table_notes
        parts.append(panel.merge(batch, on=_KEYS, how="inner", validate="one_to_one"))
    if table_notes is None:  # no anchor left: an empty panel with every column
        empty = index.cut([])
        panel, table_notes = build_panel(empty, [pd.Timestamp(observation_end)], **settings)
        parts.append(panel.assign(**({id_column: pd.Series(dtype="str")} if id_column else {})))
    panel = pd.concat(parts, ignore_index=True)
    if len(panel) != len(kept):
        raise AssertionError(
            f"build_anchored_panel: {len(kept)} eligible anchors but {len(panel)} panel rows"
        )
    panel = panel.sort_values(["snapshot_date", "customer_id"], kind="stable", ignore_index=True)
    if id_column:
        panel.insert(2, id_column, panel.pop(id_column))
    if peer_relative:
        panel = relative_to_book(panel, present, settings)
    return panel, [*table_notes, *notes]


def _month_start(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("M").dt.start_time.astype("datetime64[ns]")


def _book(
    tables: Mapping[str, pd.DataFrame], months: Sequence[pd.Timestamp], columns: list[str], settings
) -> pd.DataFrame:
    """The calendar panel's rows (the book) at ``months``, only the key, peer and raw columns."""
    parts = []
    for begin in range(0, len(months), 6):
        panel, _ = build_panel(tables, list(months[begin : begin + 6]), **settings)
        parts.append(panel[[c for c in ["customer_id", "snapshot_date", *columns] if c in panel]])
    return pd.concat(parts, ignore_index=True)


def relative_to_book(
    panel: pd.DataFrame, tables: Mapping[str, pd.DataFrame], settings: Mapping[str, Any]
) -> pd.DataFrame:
    """Replace the raw peer features of anchored rows by their place in the book at the month start.

    Like ``research.features.peers.add_peer_relative``, with each row's peers the book at
    the month start on or before its date (its own row there replaced by the anchored
    value). The new column takes the raw column's place.
    """
    raw = {
        column: (rule, name)
        for column in panel.columns
        for rule in RULES
        if (name := rule.relative_of(column)) is not None
    }
    if not raw or panel.empty:
        return panel.rename(columns={c: name for c, (_, name) in raw.items()})
    month = _month_start(panel["snapshot_date"])
    by_columns = sorted({c for rule, _ in raw.values() for c in rule.by if c in panel.columns})
    book = _book(tables, sorted(month.unique()), [*by_columns, *raw], settings)
    out = panel.copy()
    for column, (rule, name) in raw.items():
        by = [c for c in rule.by if c in panel.columns]
        out[column] = _relative(panel, month, book, column, by, rule.kind)
        out = out.rename(columns={column: name})
    return out


def _relative(
    panel: pd.DataFrame,
    month: pd.Series,
    book: pd.DataFrame,
    column: str,
    by: list[str],
    kind: str,
) -> np.ndarray:
    """One raw column of the anchored rows against the book at their month start."""
    values = pd.to_numeric(panel[column], errors="coerce").to_numpy(dtype=np.float64)
    book_values = pd.to_numeric(book[column], errors="coerce").to_numpy(dtype=np.float64)
    own = (
        pd.DataFrame(
            {"customer_id": panel["customer_id"].to_numpy(), "snapshot_date": month.to_numpy()}
        )
        .merge(
            book[["customer_id", "snapshot_date"]].assign(_own=book_values),
            on=_KEYS,
            how="left",
            validate="many_to_one",
        )["_own"]
        .to_numpy(dtype=np.float64)
    )
    out = np.full(len(panel), np.nan)
    row_groups = pd.DataFrame({"m": month.to_numpy(), **{c: panel[c].to_numpy() for c in by}})
    book_groups = pd.DataFrame(
        {"m": book["snapshot_date"].to_numpy(), **{c: book[c].to_numpy() for c in by}}
    )
    book_index = book_groups.groupby(list(book_groups.columns), sort=False, dropna=False).indices
    for key, rows in row_groups.groupby(
        list(row_groups.columns), sort=False, dropna=False
    ).indices.items():
        members = book_index.get(key, np.array([], dtype=np.int64))
        peers = book_values[members]
        peers = np.sort(peers[~np.isnan(peers)])
        out[rows] = _against(values[rows], own[rows], peers, kind)
    return out


def _against(v: np.ndarray, own: np.ndarray, peers: np.ndarray, kind: str) -> np.ndarray:
    """Each value ``v`` joined to ``peers`` (sorted, no NaN) less its own ``own`` value there.

    ``rank``: its percentile rank in (0, 1] among them, ties sharing their mean rank (as
    ``pandas.Series.rank(method="average", pct=True)``); else ``v`` minus their median.
    """
    n = len(peers)
    has_own = ~np.isnan(own)
    below = np.searchsorted(peers, v, side="left") - (has_own & (own < v))
    equal = (np.searchsorted(peers, v, side="right") - np.searchsorted(peers, v, side="left")) - (
        has_own & (own == v)
    )
    size = n - has_own + 1  # the group with v in it
    if kind == "rank":
        out = (below + (equal + 2) / 2) / size
        return np.where(np.isnan(v), np.nan, out)
    own_at = np.where(has_own, np.searchsorted(peers, np.where(has_own, own, 0.0), side="left"), n)

    def kth(k: np.ndarray) -> np.ndarray:
        """The k-th smallest (0-based) of the peers less own, plus v."""
        j = np.where(k < below, k, k - 1)  # index among the peers less own
        i = np.clip(j + (j >= own_at), 0, max(n - 1, 0))
        taken = peers[i] if n else np.full(len(k), np.nan)
        return np.where(k == below, v, taken)

    middle = (size - 1) // 2
    median = np.where(size % 2 == 1, kth(middle), (kth(middle) + kth(middle + 1)) / 2)
    return np.where(np.isnan(v), np.nan, v - median)
