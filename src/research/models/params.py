"""A model is data: its specification (``params.yaml`` → ``models.<name>``) and the split settings.

No code names a model: stages, files, registry names and report wording derive from
the entries of ``models:``. Each class checks itself on construction.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from research._params import check as _check
from research._params import check_date as _check_date


@dataclasses.dataclass(frozen=True)
class SplitParams:
    oot_first_snapshot: str
    valid_fraction: float
    test_fraction: float
    min_events: int

    def __post_init__(self) -> None:
        if self.oot_first_snapshot:  # empty: derived from the data by the features stage
            _check_date(self.oot_first_snapshot, "split.oot_first_snapshot")
        _check(0 < self.valid_fraction < 1, "split.valid_fraction", "must lie in (0, 1)")
        _check(0 < self.test_fraction < 1, "split.test_fraction", "must lie in (0, 1)")
        _check(
            self.min_events >= 1,
            "split.min_events",
            "must be at least 1 (a split without events measures nothing)",
        )


# Deeper trees memorise the training customers, and their leaves (up to 2^depth) exhaust memory.
MAX_DEPTH = 20
# Where a flat modeling table may live (``research.models.flat.read_modeling_table``).
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".txt", ".csv.gz")
# The key columns of the feature panel.
PANEL_ID, PANEL_DATE = "customer_id", "snapshot_date"


@dataclasses.dataclass(frozen=True)
class XGBParams:
    n_estimators: int
    learning_rate: float
    max_depth: int
    # ``auto``: from the training rows and events at fit time (research.models.train.auto_min_child_weight)
    min_child_weight: float | Literal["auto"]
    subsample: float
    colsample_bytree: float
    reg_lambda: float
    early_stopping_rounds: int

    def __post_init__(self) -> None:
        _check(self.n_estimators >= 1, "xgb.n_estimators", "must be at least 1")
        _check(0 < self.learning_rate <= 1, "xgb.learning_rate", "must lie in (0, 1]")
        _check(
            1 <= self.max_depth <= MAX_DEPTH,
            "xgb.max_depth",
            f"must lie in [1, {MAX_DEPTH}] (a tree of depth d has up to 2^d leaves)",
        )
        _check(
            self.min_child_weight == "auto" or self.min_child_weight >= 0,
            "xgb.min_child_weight",
            "must be >= 0 or auto",
        )
        _check(0 < self.subsample <= 1, "xgb.subsample", "must lie in (0, 1]")
        _check(0 < self.colsample_bytree <= 1, "xgb.colsample_bytree", "must lie in (0, 1]")
        _check(self.reg_lambda >= 0, "xgb.reg_lambda", "must be >= 0")
        _check(self.early_stopping_rounds >= 1, "xgb.early_stopping_rounds", "must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CalibrationParams:
    method: Literal["isotonic", "platt"]


@dataclasses.dataclass(frozen=True)
class GradeParams:
    names: list[str]
    upper_pd: list[float]

    def __post_init__(self) -> None:
        _check(
            all(name.strip() for name in self.names), "grades.names", "must not be empty strings"
        )
        _check(
            len(set(self.names)) == len(self.names),
            "grades.names",
            f"must not repeat a grade, got {self.names}",
        )
        if not self.names:
            _check(
                not self.upper_pd,
                "grades.upper_pd",
                "must be empty when grades.names is (risk deciles)",
            )
        if self.names:
            _check(
                len(self.names) == len(self.upper_pd) + 1,
                "grades",
                "needs one more name than upper_pd bounds (the last grade takes the rest)",
            )
            _check(
                all(a < b for a, b in zip(self.upper_pd, self.upper_pd[1:], strict=False)),
                "grades.upper_pd",
                "must increase strictly",
            )
            _check(
                all(0 < p < 1 for p in self.upper_pd),
                "grades.upper_pd",
                "must be probabilities in (0, 1)",
            )


@dataclasses.dataclass(frozen=True)
class FeatureSelection:
    """Which columns of the modeling table the model uses: all but ``exclude``, or only ``include``."""

    include: list[str]
    exclude: list[str]

    def __post_init__(self) -> None:
        both = sorted(set(self.include) & set(self.exclude))
        _check(not both, "features", f"names {both} in both include and exclude")

    def select(self, candidates: list[str]) -> list[str]:
        """The chosen features in table order; an unknown name is an error naming it."""
        unknown = [f for f in (*self.include, *self.exclude) if f not in candidates]
        if unknown:
            raise KeyError(
                f"models.<name>.features names columns the modeling table lacks: {unknown}; "
                f"it has {len(candidates)} feature columns, e.g. {candidates[:8]}"
            )
        chosen = (
            [c for c in candidates if c in set(self.include)] if self.include else list(candidates)
        )
        return [c for c in chosen if c not in set(self.exclude)]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model: what it predicts, how it is graded, registered and fitted.

    ``task`` says what the score is: ``pd`` a probability of default (shown as PD; the
    value step takes expected loss and grades from it), ``attrition`` the probability that
    the client leaves (the value step's retention term), ``propensity`` any other event.
    ``label`` is the outcome column: on the panel the event (``default``: the column
    ``<event>_<horizon_months>m`` as the features stage builds it, ``research.labels``; the
    settings hold the resolved column) or that column's name; in a flat table any column:
    ``event_value`` empty means it holds 1/0 already, else it is the value that means the
    event (``Yes``, ``bad``, ``2``; compared as text, case-insensitively, or as a number) and
    every other value is 0. ``allow_protected`` names protected columns of a flat table (sex,
    age, marital status, ...; excluded by default) that the model may use: an explicit,
    recorded choice (``research.models.flat.prepare_features``).
    """

    enabled: bool
    task: Literal["pd", "attrition", "propensity"]
    description: str
    label: str
    horizon_months: int
    registry_name: str
    grading: Literal["master_scale", "deciles"]
    source: str
    id_column: str
    date_column: str
    event_value: str
    allow_protected: list[str]
    features: FeatureSelection
    monotone: bool | dict[str, int]  # catalog directions, none, or {column: 1 | -1 | 0}
    xgb: XGBParams
    calibration: CalibrationParams
    grades: GradeParams
    # Optional (the only keys with defaults): who answers for the model and its model-risk
    # tier, shown on the model card and the registry description; empty shows "not set".
    owner: str = ""
    risk_tier: str = ""

    def __post_init__(self) -> None:
        _check(self.horizon_months >= 1, "horizon_months", "must be at least 1")
        _check(bool(self.registry_name.strip()), "registry_name", "must not be empty")
        _check(bool(self.label.strip()), "label", "must name the outcome column")
        _check(bool(self.id_column.strip()), "id_column", "must name the customer id column")
        _check(
            bool(self.source.strip()),
            "source",
            'must be "panel" or the path of a flat modeling table (.parquet or .csv)',
        )
        if self.uses_panel:
            _check(
                not self.event_value,
                "event_value",
                'must be "" for a model on the panel (its labels are 0/1 already); it names '
                "the event value of a flat table's label",
            )
            _check(
                not self.allow_protected,
                "allow_protected",
                "must be [] for a model on the panel; it names protected columns of a flat "
                "table that the model may use",
            )
            _check(
                self.id_column == PANEL_ID,
                "id_column",
                f"must be {PANEL_ID} for a model on the panel (its id column), got {self.id_column!r}",
            )
            _check(
                self.date_column == PANEL_DATE,
                "date_column",
                f"must be {PANEL_DATE} for a model on the panel (its date column), got {self.date_column!r}",
            )
        else:
            _check(
                self.source.lower().endswith(TABLE_SUFFIXES),
                "source",
                f'must be "panel" or a Parquet or CSV file ({", ".join(TABLE_SUFFIXES)}), got {self.source!r}',
            )
        if isinstance(self.monotone, dict):
            bad = {c: d for c, d in self.monotone.items() if d not in (-1, 0, 1)}
            _check(
                not bad,
                "monotone",
                f"maps a column to 1 (risk rises with it), -1 (falls) or 0 (free), got {bad}",
            )
        if self.grading == "master_scale":
            _check(
                bool(self.grades.names),
                "grades.names",
                "must name the grades when grading is master_scale",
            )
        else:
            _check(
                not self.grades.names,
                "grades",
                "must be empty (names: [], upper_pd: []) when grading is deciles",
            )

    @property
    def graded(self) -> bool:
        """Whether scores get master-scale grades (otherwise deciles)."""
        return self.grading == "master_scale"

    @property
    def score_name(self) -> str:
        """How reports name the calibrated score."""
        return "PD" if self.task == "pd" else "probability"

    @property
    def uses_panel(self) -> bool:
        return self.source == "panel"


def disabled_note(name: str) -> str:
    """What every output of a model switched off in params.yaml says (train, explain, validate, pages)."""
    return (
        f"Model {name!r} is disabled in params.yaml (models.{name}.enabled: false): it is not "
        f"trained, explained or validated, and its outputs are empty placeholders. Set "
        f"models.{name}.enabled: true to train it."
    )
