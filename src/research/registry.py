"""The model registry's aliases: ``candidate`` for what training produced, ``champion`` for what scores.

Each pipeline training run registers a version when the model's content changed
(``research.tracking.register_if_changed``). The train stage then marks it ``candidate``
and describes it (``mark_candidate`` with ``version_description``: model, target and
horizon, data window, holdout figures, git commit).

``promote`` moves ``champion`` to a version (the candidate by default) behind a gate: the
version's validation pack, as the validate stage logged it to the version's training run
(``validation.lights.<colour>`` metrics, ``LIGHT_METRICS``). A version with red checks, or
with no validation recorded, is refused unless the reviewer gives an override reason. The
model version records who promoted it and when (``promoted_by``, ``promoted_at``), the
champion it replaced (``previous_champion``), the lights it was judged on
(``validation_lights``, ``validation_run``), the override reason (``promotion_override``)
and ``rollback: true`` when it is older than the champion it replaced. Promoting an earlier
version is the rollback: the alias moves back.

The reviewer is named by a pseudonymous id (an employee number or a system user name such
as ``u12345`` or ``jdoe``): letters, digits, ``.``, ``_`` and ``-``, 2 to 64 characters,
surrounding blanks stripped. Spaces (a full name) and ``@`` (an e-mail address) are refused
because they identify a person in the registry's permanent record. The operating-system user
is never used: the reviewer is who took the decision, not who ran the command.

Scoring reads a model by alias: ``resolve_version(name, "champion")``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from research.models.calibration import verdict_text as calibration_text

if TYPE_CHECKING:
    from research.config import ModelSpec

CANDIDATE = "candidate"
CHAMPION = "champion"
# The colours of the validation pack's traffic lights (research.validation's LIGHT_ORDER).
LIGHTS = ("green", "amber", "red", "grey")
# What the validate stage logs to the training run: ``flat_metrics(summary_metrics(result))``
# gives ``validation.lights.<colour>``; its run tags ``validation.<colour>`` hold the same counts.
LIGHT_METRICS = {colour: f"validation.lights.{colour}" for colour in LIGHTS}
LIGHT_TAGS = {colour: f"validation.{colour}" for colour in LIGHTS}
# Tags of the training run naming the registry version it produced (research.tracking).
RUN_MODEL_TAG = "registered_model"
RUN_VERSION_TAG = "registered_version"

# Tags set on a promoted model version.
PROMOTED_BY = "promoted_by"
PROMOTED_AT = "promoted_at"
PREVIOUS_CHAMPION = "previous_champion"
OVERRIDE_TAG = "promotion_override"
ROLLBACK_TAG = "rollback"
LIGHTS_TAG = "validation_lights"
VALIDATION_RUN_TAG = "validation_run"

_REVIEWER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")


class Refused(Exception):
    """The registry refuses the request; the message says why and what to do."""


# ----------------------------------------------------------------------------- descriptions


def lights_text(lights: Mapping[str, int] | None) -> str:
    """``green 20, amber 3, red 0`` (grey only when some checks are grey); ``none`` without lights."""
    if lights is None:
        return "none"
    return ", ".join(
        f"{colour} {int(lights.get(colour, 0))}"
        for colour in LIGHTS
        if colour != "grey" or lights.get(colour)
    )


def _figure(value: float | None, digits: int) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def version_description(
    *,
    model: str,
    registry_name: str,
    label: str,
    horizon_months: int | None,
    first_snapshot: str | None,
    last_snapshot: str | None,
    oot_first_snapshot: str | None,
    auc: float | None,
    gini: float | None,
    brier: float | None,
    calibration: str | None,
    git_commit: str,
    summary: str = "",
    holdout: str = "oot",
    lights: Mapping[str, int] | None = None,
) -> str:
    """The description of a registry version: what it predicts, on which data, how well, from which code.

    Plain values only (no MLflow, no files), one fact a line (Markdown in the MLflow UI).

    Args:
        model: The model's name in ``params.yaml`` (``models.<model>``).
        registry_name: Its registry name.
        label: The label column (``default_12m``, or a flat table's column).
        horizon_months: The label's window; None when the label has none (a flat table's).
        first_snapshot: First snapshot date of the modeling rows; None for an undated table.
        last_snapshot: Last snapshot date of the modeling rows; None for an undated table.
        oot_first_snapshot: First out-of-time snapshot; None for an undated table.
        auc: Holdout AUC.
        gini: Holdout Gini.
        brier: Holdout Brier score.
        calibration: The calibration verdict in words (``calibration_text``); None if unknown.
        git_commit: The commit the model was trained from.
        summary: The model's one-line description (``models.<model>.description``).
        holdout: ``oot`` (out-of-time) or ``test`` (an undated table's random test split).
        lights: Validation light counts by colour, when the model has been validated.
    """
    title = f"**{registry_name}** (model `{model}` of params.yaml)"
    lines = [f"{title}: {summary}" if summary else title]
    horizon = f", horizon {horizon_months} months" if horizon_months else ""
    lines.append(f"- Target: `{label}`{horizon}")
    if first_snapshot or last_snapshot:
        window = f"snapshots {first_snapshot or '?'} to {last_snapshot or '?'}"
        if oot_first_snapshot:
            window += f"; out-of-time from {oot_first_snapshot}"
        lines.append(f"- Data: {window}")
    else:
        lines.append("- Data: an undated table; the holdout is a random test split")
    where = "Out-of-time" if holdout == "oot" else f"Holdout ({holdout})"
    lines.append(
        f"- {where}: AUC {_figure(auc, 3)}, Gini {_figure(gini, 3)}, Brier {_figure(brier, 4)}"
    )
    lines.append(f"- Calibration: {calibration or 'n/a'}")
    lines.append(
        f"- Validation lights: {lights_text(lights)}"
        if lights is not None
        else "- Validation lights: not validated when registered (see the version's training run)"
    )
    lines.append(f"- Git commit: `{git_commit}`")
    return "\n".join(lines) + "\n"


def train_description(
    model: str,
    spec: ModelSpec,
    results: Mapping[str, Any],
    *,
    first_snapshot: str | None,
    last_snapshot: str | None,
    oot_first_snapshot: str | None,
    git_commit: str,
) -> str:
    """``version_description`` from the train stage's values: its spec and its metrics (``results``)."""
    holdout = str(results.get("holdout") or "oot")
    figures = results.get(holdout) or {}
    dated = first_snapshot is not None
    return version_description(
        model=model,
        registry_name=spec.registry_name,
        summary=spec.description,
        label=str(results.get("label") or spec.label),
        horizon_months=spec.horizon_months if spec.uses_panel else None,
        first_snapshot=first_snapshot,
        last_snapshot=last_snapshot,
        oot_first_snapshot=oot_first_snapshot if dated else None,
        auc=figures.get("auc"),
        gini=figures.get("gini"),
        brier=figures.get("brier"),
        calibration=calibration_text(results.get("calibration")),
        git_commit=git_commit,
        holdout=holdout,
    )


# ----------------------------------------------------------------------------- the registry


def _client(root: Path | None) -> Any:
    """An MLflow client of the project store (configured from ``root`` when given)."""
    from mlflow import MlflowClient

    if root is not None:
        from research import tracking

        tracking.configure(Path(root))
    return MlflowClient()


def _missing(err: Exception) -> bool:
    """Whether an MLflow error says the thing asked for does not exist."""
    code = getattr(err, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(err)


def registry_name(root: Path, model: str) -> str:
    """The registry name of ``model``, a model key of ``params.yaml`` (``models:``).

    Raises:
        Refused: ``model`` is not a model of params.yaml (the message lists those that are).
    """
    from research._params import ParamsError
    from research.stages._context import stage_context

    settings = stage_context(root, write=False).settings
    try:
        return settings.model(model).registry_name
    except ParamsError as err:
        raise Refused(str(err)) from None


def _aliases(client: Any, name: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as err:
        if _missing(err):
            raise Refused(
                f"the registry has no model named {name!r}: train it in the pipeline first "
                "(dvc repro), which registers its versions"
            ) from None
        raise
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def resolve_version(
    name: str, version_or_alias: str | int, *, root: Path | None = None, model: str | None = None
) -> Any:
    """The ``ModelVersion`` of ``name`` that a number or an alias (``champion``, ``candidate``) names.

    ``model`` (the params.yaml key) only words the hint of a missing champion.

    Raises:
        Refused: No such model, version or alias (the message names the aliases there are).
    """
    from mlflow.exceptions import MlflowException

    client = _client(root)
    key = str(version_or_alias).strip()
    if key.isdigit():
        _aliases(client, name)  # refuses an unknown model by name
        try:
            return client.get_model_version(name, str(int(key)))
        except MlflowException as err:
            if _missing(err):
                raise Refused(f"{name} has no version {key}") from None
            raise
    aliases = _aliases(client, name)
    if key not in aliases:
        there = ", ".join(f"{a} (version {v})" for a, v in sorted(aliases.items())) or "none"
        if key == CHAMPION:
            raise Refused(
                f"no champion: {name} has no version with the alias 'champion' (aliases: "
                f"{there}); run `research promote {model or '<model>'} --by <id>` or pass "
                "--version N"
            )
        hint = (
            "; the train stage sets candidate when it registers a version"
            if key == CANDIDATE
            else "; pass --version N or one of those aliases"
        )
        raise Refused(f"{name} has no version with the alias {key!r} (aliases: {there}){hint}")
    return client.get_model_version(name, aliases[key])


def champion_version(name: str, *, root: Path | None = None) -> Any:
    """The ``ModelVersion`` that scores: the one with the ``champion`` alias."""
    return resolve_version(name, CHAMPION, root=root)


def mark_candidate(name: str, version: str | int, description: str, *, root: Path | None = None):
    """Give ``version`` of ``name`` the ``candidate`` alias and ``description``; return the version."""
    from research.tracking import registry_lock

    client = _client(root)
    with registry_lock():
        client.set_registered_model_alias(name, CANDIDATE, str(version))
        return client.update_model_version(name, str(version), description=description)


def describe(name: str, version: str | int, description: str, *, root: Path | None = None) -> None:
    """Replace the description of ``version`` (the validate stage sets the model card)."""
    _client(root).update_model_version(name, str(version), description=description)


# ----------------------------------------------------------------------------- the gate


@dataclasses.dataclass(frozen=True)
class Validation:
    """The light counts a version's validation recorded, and the run that holds them."""

    lights: dict[str, int]
    run_id: str


def recorded_lights(metrics: Mapping[str, float], tags: Mapping[str, str]) -> dict[str, int] | None:
    """Light counts from a run's metrics (``LIGHT_METRICS``), else its tags (``LIGHT_TAGS``); None if neither."""
    if LIGHT_METRICS["red"] in metrics:
        return {c: int(metrics.get(name, 0)) for c, name in LIGHT_METRICS.items()}
    if LIGHT_TAGS["red"] in tags:
        return {c: int(float(tags.get(name) or 0)) for c, name in LIGHT_TAGS.items()}
    return None


def version_validation(client: Any, version: Any) -> Validation | None:
    """The newest validation of exactly this version, or None when it has none.

    Looks at the version's source run and at later training runs that produced the same
    content (``register_if_changed`` hands them the same version; their tags name it), newest
    first, and takes the first that holds light counts.
    """
    runs = []
    if version.run_id:
        source = client.get_run(version.run_id)
        runs.append(source)
        runs += client.search_runs(
            [source.info.experiment_id],
            filter_string=(
                f"tags.{RUN_MODEL_TAG} = '{version.name}' "
                f"and tags.{RUN_VERSION_TAG} = '{version.version}'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=100,
        )
    runs.sort(key=lambda run: run.info.start_time or 0, reverse=True)
    for run in runs:
        lights = recorded_lights(run.data.metrics, run.data.tags)
        if lights is not None:
            return Validation(lights=lights, run_id=run.info.run_id)
    return None


def gate_refusal(
    name: str, version: str, validation: Validation | None, override: str | None
) -> str | None:
    """Why promoting ``version`` is refused (None when it may go ahead).

    Refused: no validation recorded, or red lights, unless an override reason is given.
    """
    if override:
        return None
    how = 'promote with --override "reason" to accept {} on the record'
    if validation is None:
        return (
            f"{name} version {version} has no validation recorded (no "
            f"{LIGHT_METRICS['red']} on its training run): run the validate stage for its "
            f"model, or {how.format('that')}"
        )
    red = validation.lights.get("red", 0)
    if red > 0:
        return (
            f"{name} version {version} has {red} red check{'s' if red != 1 else ''} in its "
            f"validation ({lights_text(validation.lights)}; validation/checks.csv of run "
            f"{validation.run_id}): fix the model, or {how.format('them')}"
        )
    return None


def needs_override(validation: Validation | None) -> bool:
    """Whether the gate refuses this validation without an override."""
    return validation is None or validation.lights.get("red", 0) > 0


def check_reviewer(reviewer: str | None) -> str:
    """The reviewer id, stripped; refused unless it is a pseudonymous id (see the module doc)."""
    text = (reviewer or "").strip()
    if not text:
        raise Refused("name the reviewer: --by <reviewer id> (a pseudonymous id such as u12345)")
    if not _REVIEWER.fullmatch(text):
        raise Refused(
            f"{text!r} is not a pseudonymous reviewer id: use 2 to 64 letters, digits, '.', '_' "
            "or '-' (an employee number or user id, not a full name or an e-mail address)"
        )
    return text


# ----------------------------------------------------------------------------- promotion


@dataclasses.dataclass(frozen=True)
class Promotion:
    """What ``promote`` did."""

    name: str
    version: str
    previous: str | None  # the champion before, None when there was none
    reviewer: str
    promoted_at: str
    validation: Validation | None
    override: str | None  # the reason, when the gate needed one
    rollback: bool
    changed: bool  # False when the version already was the champion

    def line(self) -> str:
        """One line saying what happened."""
        if not self.changed:
            return f"{self.name} version {self.version} already is the champion; nothing changed"
        moved = (
            f"champion moved {'back ' if self.rollback else ''}from version {self.previous} "
            f"to {self.version}"
            if self.previous
            else f"champion set to version {self.version} (there was none)"
        )
        lights = (
            f"lights {lights_text(self.validation.lights)}"
            if self.validation
            else "no validation recorded"
        )
        extra = f"; override: {self.override}" if self.override else ""
        return f"{self.name}: {moved} ({lights}{extra}); by {self.reviewer} at {self.promoted_at}"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def promote(
    name: str,
    *,
    reviewer: str,
    version: str | int | None = None,
    override: str | None = None,
    root: Path | None,
    now: str | None = None,
) -> Promotion:
    """Move the ``champion`` alias of ``name`` to ``version`` (default: the candidate) behind the gate.

    Args:
        name: The registry name (``registry_name`` maps a params.yaml model to it).
        reviewer: The reviewer's pseudonymous id (``check_reviewer``), recorded as ``promoted_by``.
        version: A version number or an alias; None: the ``candidate``.
        override: The reason to promote despite red lights or a missing validation.
        root: The project folder (the store is configured from it); None: as configured.
        now: The promotion time (UTC ISO); None: now.

    Raises:
        Refused: An invalid reviewer or override, an unknown model or version, or the gate.
    """
    who = check_reviewer(reviewer)
    reason = None if override is None else override.strip()
    if override is not None and not reason:
        raise Refused('--override needs a reason: --override "why the red lights are accepted"')
    client = _client(root)
    target = resolve_version(name, CANDIDATE if version is None else version)
    number = str(target.version)
    previous = _aliases(client, name).get(CHAMPION)
    if previous == number:
        return Promotion(name, number, previous, who, "", None, None, False, changed=False)
    validation = version_validation(client, target)
    refusal = gate_refusal(name, number, validation, reason)
    if refusal:
        raise Refused(refusal)
    used = reason if needs_override(validation) else None
    rollback = previous is not None and int(number) < int(previous)
    at = now or _utc_now()
    tags = {
        PROMOTED_BY: who,
        PROMOTED_AT: at,
        PREVIOUS_CHAMPION: previous or "none",
        LIGHTS_TAG: lights_text(validation.lights) if validation else "none",
        VALIDATION_RUN_TAG: validation.run_id if validation else "none",
    }
    if used:
        tags[OVERRIDE_TAG] = used
    if rollback:
        tags[ROLLBACK_TAG] = "true"
    for key, value in tags.items():
        client.set_model_version_tag(name, number, key, value)
    for stale in (OVERRIDE_TAG, ROLLBACK_TAG):  # left by an earlier promotion of this version
        if stale not in tags and stale in (target.tags or {}):
            client.delete_model_version_tag(name, number, stale)
    from research.tracking import registry_lock

    with registry_lock():
        client.set_registered_model_alias(name, CHAMPION, number)
    return Promotion(name, number, previous, who, at, validation, used, rollback, changed=True)
