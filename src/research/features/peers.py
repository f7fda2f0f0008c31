"""Peer-relative features: a firm's value against the median of its peers at the same snapshot.

Some observables move with the whole book over calendar time rather than with the firm:
loan pricing follows the policy rate (a facility booked in 2023 pays about 3.5 points more
than the same credit booked in 2021), digital adoption rises year by year, and margins
swing with the industry cycle. A model that reads the level learns the calendar, and its
inputs drift out of the range it was trained on (a validator sees a red characteristic
stability index). The firm-specific part is the distance from its peers at the same
snapshot, so these features are replaced by that distance (or by the firm's percentile
rank among its peers, where a difference would not keep its meaning).

Point in time: the peers of a panel row are the panel rows of the same snapshot (firms on
the books and not in default at it), optionally of the same industry; every value they
contribute is itself a point-in-time feature, so the median sees nothing after the snapshot.
The median ignores missing values; a row whose own value is missing stays missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class PeerRule:
    """A raw feature (regular expression over its name) and the peer-relative feature replacing it."""

    raw: str  # e.g. r"eng_digital_share_(?P<w>[0-9]+)m"
    relative: str  # e.g. "eng_digital_share_vs_book_{w}m", filled from the raw name's groups
    by: tuple[str, ...]  # peer groups within a snapshot (() = the whole book)
    kind: str = "difference"  # value minus the peers' median, or "rank": percentile rank among them

    def relative_of(self, raw_name: str) -> str | None:
        found = re.fullmatch(self.raw, raw_name)
        return None if found is None else self.relative.format(**found.groupdict())

    def raw_of(self, relative_name: str) -> str | None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[0-9]+)", re.escape(self.relative))
        found = re.fullmatch(pattern, relative_name)
        if found is None:
            return None
        raw = self.raw
        for key, value in found.groupdict().items():
            raw = re.sub(rf"\(\?P<{key}>[^)]*\)", value, raw)
        return raw


RULES: tuple[PeerRule, ...] = (
    PeerRule(r"fac_mean_interest_rate", "fac_rate_vs_book", ()),
    PeerRule(r"eng_digital_share_(?P<w>[0-9]+)m", "eng_digital_share_vs_book_{w}m", ()),
    PeerRule(r"fin_margin_change", "fin_margin_change_vs_industry", ("industry",)),
    # Counts and shares that pile up at a bound (all movements digital) or grow with the
    # channels on offer: a percentile rank keeps its meaning where a difference would not.
    PeerRule(r"cf_digital_share_(?P<w>[0-9]+)m", "cf_digital_share_book_rank_{w}m", (), "rank"),
    PeerRule(r"eng_touchpoints_(?P<w>[0-9]+)m", "eng_touchpoints_book_rank_{w}m", (), "rank"),
)


def relative_name(raw_name: str) -> str | None:
    """The peer-relative feature that replaces ``raw_name`` (None when it is kept as it is)."""
    for rule in RULES:
        name = rule.relative_of(raw_name)
        if name is not None:
            return name
    return None


def raw_name(relative: str) -> str | None:
    """The raw feature a peer-relative feature is computed from (None for any other name)."""
    for rule in RULES:
        name = rule.raw_of(relative)
        if name is not None:
            return name
    return None


def add_peer_relative(panel: pd.DataFrame, *, date_column: str = "snapshot_date") -> pd.DataFrame:
    """Replace every raw feature named by ``RULES`` with its place among its peers.

    ``difference``: the value minus the peers' median. ``rank``: the percentile rank among the
    peers with a value, in (0, 1], ties sharing their mean rank.

    The new column takes the raw column's place; other columns are untouched. A rule whose
    peer column (``industry``) is absent compares with the whole book at the snapshot.
    """
    out = panel.copy()
    for column in list(panel.columns):
        rule = next((r for r in RULES if r.relative_of(column) is not None), None)
        if rule is None:
            continue
        keys = [date_column, *(c for c in rule.by if c in panel.columns)]
        values = pd.to_numeric(panel[column], errors="coerce").astype("float64")
        groups = values.groupby([panel[k] for k in keys], observed=True, sort=False)
        if rule.kind == "rank":
            out[column] = groups.rank(method="average", pct=True)
        else:
            out[column] = values - groups.transform("median")
        out = out.rename(columns={column: rule.relative_of(column)})
    return out
