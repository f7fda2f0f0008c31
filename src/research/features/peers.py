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


def _name_pattern(template: str) -> re.Pattern[str]:
    """``eng_touchpoints_{w}m`` -> a pattern matching ``eng_touchpoints_12m`` with group ``w``."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[0-9]+)", re.escape(template)))


@dataclass(frozen=True)
class PeerRule:
    """A raw feature and the peer-relative feature replacing it (names with ``{w}`` for a window)."""

    raw: str  # e.g. "eng_digital_share_{w}m"
    relative: str  # e.g. "eng_digital_share_vs_book_{w}m"
    by: tuple[str, ...]  # peer groups within a snapshot (() = the whole book)
    kind: str = "difference"  # value minus the peers' median, or "rank": percentile rank among them

    @staticmethod
    def _translate(name: str, source: str, target: str) -> str | None:
        found = _name_pattern(source).fullmatch(name)
        return None if found is None else target.format(**found.groupdict())

    def relative_of(self, raw_name: str) -> str | None:
        return self._translate(raw_name, self.raw, self.relative)

    def raw_of(self, relative_name: str) -> str | None:
        return self._translate(relative_name, self.relative, self.raw)


RULES: tuple[PeerRule, ...] = (
    PeerRule("fac_mean_interest_rate", "fac_rate_vs_book", ()),
    PeerRule("eng_digital_share_{w}m", "eng_digital_share_vs_book_{w}m", ()),
    PeerRule("fin_margin_change", "fin_margin_change_vs_industry", ("industry",)),
    # Counts and shares that pile up at a bound (all movements digital) or grow with the
    # channels on offer: a percentile rank keeps its meaning where a difference would not.
    PeerRule("cf_digital_share_{w}m", "cf_digital_share_book_rank_{w}m", (), "rank"),
    PeerRule("eng_touchpoints_{w}m", "eng_touchpoints_book_rank_{w}m", (), "rank"),
)


def _rule_for(raw_name: str) -> tuple[PeerRule, str] | None:
    """The rule that replaces ``raw_name`` and the name it gets, if any."""
    for rule in RULES:
        name = rule.relative_of(raw_name)
        if name is not None:
            return rule, name
    return None


def relative_name(raw_name: str) -> str | None:
    """The peer-relative feature that replaces ``raw_name`` (None when it is kept as it is)."""
    found = _rule_for(raw_name)
    return None if found is None else found[1]


def raw_name(relative: str) -> str | None:
    """The raw feature a peer-relative feature is computed from (None for any other name)."""
    return next((name for rule in RULES if (name := rule.raw_of(relative)) is not None), None)


def add_peer_relative(panel: pd.DataFrame, *, date_column: str = "snapshot_date") -> pd.DataFrame:
    """Replace every raw feature named by ``RULES`` with its place among its peers.

    ``difference``: the value minus the peers' median. ``rank``: the percentile rank among the
    peers with a value, in (0, 1], ties sharing their mean rank.

    The new column takes the raw column's place; other columns are untouched. A rule whose
    peer column (``industry``) is absent compares with the whole book at the snapshot.
    """
    # Column by column into a new frame (no copy of the untouched columns; a panel is large).
    out: dict[str, pd.Series] = {}
    for column in list(panel.columns):
        found = _rule_for(column)
        if found is None:
            out[column] = panel[column]
            continue
        rule, name = found
        keys = [date_column, *(c for c in rule.by if c in panel.columns)]
        values = pd.to_numeric(panel[column], errors="coerce").astype("float64")
        groups = values.groupby([panel[k] for k in keys], observed=True, sort=False)
        if rule.kind == "rank":
            out[name] = groups.rank(method="average", pct=True)
        else:
            out[name] = values - groups.transform("median")
    return pd.DataFrame(out, index=panel.index, copy=False)
