"""Registry aliases: the candidate described, the champion moved only behind the validation gate."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil

import pytest

from _project import ROOT
from research import registry, tracking
from research.cli import main
from research.stages._context import stage_context
from research.validation import flat_metrics
from research.validation._base import LIGHT_ORDER, light_counts

pytestmark = pytest.mark.xdist_group("registry")

GREEN = {"green": 20, "amber": 3, "red": 0, "grey": 0}
RED = {"green": 18, "amber": 3, "red": 2, "grey": 0}

# A temporary MLflow store (its schema migrations take a few seconds): the tests using it are slow.
store_test = pytest.mark.slow


# ----------------------------------------------------------------------------- pure parts


def _description(**changes):
    values = dict(
        model="credit",
        registry_name="credit_pd",
        summary="Probability that the firm defaults within 12 months",
        label="default_12m",
        horizon_months=12,
        first_snapshot="2020-01-01",
        last_snapshot="2025-01-01",
        oot_first_snapshot="2023-04-01",
        auc=0.83412,
        gini=0.66824,
        brier=0.023456,
        calibration="0 of 7 grades outside their 95% interval (platt calibration)",
        git_commit="abc123",
    )
    return registry.version_description(**(values | changes))


def test_version_description_names_target_window_figures_and_commit():
    text = _description()
    for part in (
        "credit_pd",
        "model `credit`",
        "Probability that the firm defaults",
        "`default_12m`, horizon 12 months",
        "snapshots 2020-01-01 to 2025-01-01; out-of-time from 2023-04-01",
        "Out-of-time: AUC 0.834, Gini 0.668, Brier 0.0235",
        "0 of 7 grades outside",
        "not validated when registered",
        "`abc123`",
    ):
        assert part in text, part
    validated = _description(lights=RED, auc=None)
    assert "Validation lights: green 18, amber 3, red 2" in validated
    assert "grey" not in validated
    assert "AUC n/a" in validated


def test_version_description_of_an_undated_table_says_its_holdout_is_a_test_split():
    text = _description(
        first_snapshot=None,
        last_snapshot=None,
        oot_first_snapshot=None,
        horizon_months=None,
        holdout="test",
        label="default_payment",
    )
    assert "undated table; the holdout is a random test split" in text
    assert "Holdout (test): AUC 0.834" in text
    assert "horizon" not in text and "out-of-time" not in text.lower()


def test_calibration_text_for_grades_and_deciles():
    graded = {"method": "platt", "alpha": 0.05, "grades_tested": 7, "grades_outside": 1}
    assert registry.calibration_text(graded) == (
        "1 of 7 grades outside their 95% interval (platt calibration)"
    )
    deciles = {"method": "isotonic", "decile_rates_increasing": False}
    assert "do not rise" in registry.calibration_text(deciles)
    assert registry.calibration_text(None) is None


def test_train_description_reads_the_train_stage_results():
    settings = stage_context(ROOT, write=False).settings
    model = next(iter(settings.models))
    spec = settings.model(model)
    results = {
        "holdout": "oot",
        "label": spec.label,
        "oot": {"auc": 0.8, "gini": 0.6, "brier": 0.02},
        "calibration": {"method": "platt", "alpha": 0.05, "grades_tested": 7, "grades_outside": 0},
    }
    text = registry.train_description(
        model,
        spec,
        results,
        first_snapshot="2020-01-01",
        last_snapshot="2025-01-01",
        oot_first_snapshot="2023-04-01",
        git_commit="deadbeef",
    )
    assert spec.registry_name in text and spec.description in text
    assert "AUC 0.800, Gini 0.600, Brier 0.0200" in text and "`deadbeef`" in text


def test_reviewer_id_is_stripped_and_must_be_pseudonymous():
    assert registry.check_reviewer("  u12345 ") == "u12345"
    assert registry.check_reviewer("j.doe-2") == "j.doe-2"
    for bad in ("", "   ", None, "Jane Doe", "jane@bank.example", "x", "u1;drop"):
        with pytest.raises(registry.Refused):
            registry.check_reviewer(bad)


def test_gate_refuses_red_lights_and_missing_validation_unless_overridden():
    green = registry.Validation(lights=GREEN, run_id="r1")
    red = registry.Validation(lights=RED, run_id="r2")
    assert registry.gate_refusal("m", "2", green, None) is None
    message = registry.gate_refusal("m", "2", red, None)
    assert "2 red checks" in message and "--override" in message and "r2" in message
    missing = registry.gate_refusal("m", "2", None, None)
    assert "no validation recorded" in missing and "--override" in missing
    assert registry.gate_refusal("m", "2", red, "accepted by the committee") is None
    assert registry.gate_refusal("m", "2", None, "accepted by the committee") is None


def test_light_names_are_those_the_validate_stage_logs():
    # the validate stage logs flat_metrics(summary_metrics(result)); its "lights" are light_counts
    logged = flat_metrics({"lights": light_counts(["green", "red", "amber"])})
    assert set(registry.LIGHT_METRICS.values()) == set(logged)
    assert registry.LIGHTS == LIGHT_ORDER
    assert registry.recorded_lights(logged, {}) == {"green": 1, "amber": 1, "red": 1, "grey": 0}
    tags = {f"validation.{c}": str(n) for c, n in RED.items()}  # the stage's run tags
    assert registry.recorded_lights({}, tags) == RED
    assert registry.recorded_lights({"validation.lights": 1.0}, {}) is None


def test_unknown_model_key_is_refused_listing_the_known_ones(monkeypatch, capsys):
    known = list(stage_context(ROOT, write=False).settings.models)
    with pytest.raises(registry.Refused) as refused:
        registry.registry_name(ROOT, "no_such_model")
    assert all(name in str(refused.value) for name in known)
    monkeypatch.setenv("RESEARCH_ROOT", str(ROOT))
    assert main(["promote", "no_such_model", "--by", "u1"]) == 1
    assert "refused" in capsys.readouterr().err


# ----------------------------------------------------------------------------- a temporary store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry_project")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    tracking.configure(root)
    return root


_names = (f"model_{n}" for n in itertools.count())


def _training_run(root, name, version=None, lights=None):
    """A finished training run (tagged with its registry version when given), validated when ``lights``."""
    import mlflow

    tracking.configure(root)
    with mlflow.start_run() as run:
        if version is not None:
            mlflow.set_tags({"registered_model": name, "registered_version": str(version)})
    if lights is not None:  # as the validate stage logs it
        tracking.log_to_finished_run(
            root,
            run.info.run_id,
            metrics=flat_metrics({"lights": lights}),
            tags={f"validation.{colour}": str(count) for colour, count in lights.items()},
        )
    return run


def _register(root, lights_per_version, name=None):
    """A registered model with one version per entry (its lights, None: not validated)."""
    from mlflow import MlflowClient

    name = name or next(_names)
    client = MlflowClient()
    client.create_registered_model(name)
    for lights in lights_per_version:
        run = _training_run(root, name)
        created = client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        client.set_tag(run.info.run_id, "registered_model", name)
        client.set_tag(run.info.run_id, "registered_version", created.version)
        if lights is not None:
            _training_run(root, name, lights=lights)  # an unrelated run: not this version
            tracking.log_to_finished_run(
                root,
                run.info.run_id,
                metrics=flat_metrics({"lights": lights}),
                tags={f"validation.{colour}": str(count) for colour, count in lights.items()},
            )
    return name


def _version(name, number):
    from mlflow import MlflowClient

    return MlflowClient().get_model_version(name, str(number))


@store_test
def test_mark_candidate_sets_the_alias_and_the_description(store):
    name = _register(store, [GREEN, GREEN])
    text = _description(registry_name=name)
    registry.mark_candidate(name, "2", text, root=store)
    assert str(registry.resolve_version(name, "candidate").version) == "2"
    assert _version(name, 2).description == text
    registry.mark_candidate(name, 1, "older", root=store)  # the alias moves
    assert str(registry.resolve_version(name, registry.CANDIDATE).version) == "1"
    assert "candidate" not in _version(name, 2).aliases


@store_test
def test_promote_refuses_a_red_version_naming_the_count_and_the_override(store):
    name = _register(store, [RED])
    registry.mark_candidate(name, 1, "v1", root=store)
    with pytest.raises(registry.Refused) as refused:
        registry.promote(name, reviewer="u1", root=store)
    assert "2 red checks" in str(refused.value) and "--override" in str(refused.value)
    with pytest.raises(registry.Refused):
        registry.champion_version(name)
    assert "promoted_by" not in _version(name, 1).tags


@store_test
def test_override_promotes_and_records_reason_reviewer_time_and_previous_champion(store):
    name = _register(store, [GREEN, RED])
    first = registry.promote(name, reviewer=" u1 ", version=1, root=store)
    assert first.line().startswith(f"{name}: champion set to version 1")
    assert _version(name, 1).tags["previous_champion"] == "none"
    registry.mark_candidate(name, 2, "v2", root=store)
    done = registry.promote(
        name, reviewer="u22", override="  accepted by the committee ", root=store
    )
    assert str(registry.champion_version(name).version) == "2"
    tags = _version(name, 2).tags
    assert tags["promoted_by"] == "u22"  # the given id, never the OS user
    assert tags["promotion_override"] == "accepted by the committee"
    assert tags["previous_champion"] == "1"
    assert tags["validation_lights"] == "green 18, amber 3, red 2"
    assert "rollback" not in tags
    at = dt.datetime.fromisoformat(tags["promoted_at"])
    assert at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=5)
    line = done.line()
    assert "from version 1 to 2" in line and "red 2" in line and "accepted by" in line


@store_test
def test_promoting_an_earlier_version_rolls_back_and_clears_stale_tags(store):
    name = _register(store, [GREEN, GREEN, RED])
    registry.promote(name, reviewer="u1", version=2, root=store)
    registry.promote(name, reviewer="u1", version=1, root=store)  # rollback: tagged on 1
    assert _version(name, 1).tags["rollback"] == "true"
    registry.promote(name, reviewer="u1", version=3, override="known issue", root=store)
    back = registry.promote(name, reviewer="u2", version=1, root=store)
    assert back.rollback and "moved back from version 3 to 1" in back.line()
    assert str(registry.champion_version(name).version) == "1"
    assert _version(name, 1).tags["previous_champion"] == "3"
    registry.promote(name, reviewer="u2", version=3, override="accepted again", root=store)
    tags = _version(name, 3).tags
    assert "rollback" not in tags and tags["promotion_override"] == "accepted again"
    again = registry.promote(name, reviewer="u2", version="champion", root=store)
    assert not again.changed and "nothing changed" in again.line()


@store_test
def test_an_override_is_recorded_only_when_the_gate_needed_it(store):
    name = _register(store, [GREEN])
    done = registry.promote(name, reviewer="u1", version=1, override="not needed", root=store)
    assert done.override is None and "promotion_override" not in _version(name, 1).tags
    with pytest.raises(registry.Refused, match="needs a reason"):
        registry.promote(name, reviewer="u1", version=1, override="  ", root=store)


@store_test
def test_promote_without_a_candidate_or_validation_is_refused_clearly(store):
    name = _register(store, [None])
    with pytest.raises(registry.Refused, match="no version with the alias 'candidate'"):
        registry.promote(name, reviewer="u1", root=store)
    with pytest.raises(registry.Refused, match="no validation recorded"):
        registry.promote(name, reviewer="u1", version=1, root=store)
    with pytest.raises(registry.Refused, match="no version 7"):
        registry.promote(name, reviewer="u1", version=7, root=store)
    with pytest.raises(registry.Refused, match="no model named"):
        registry.promote("never_registered", reviewer="u1", root=store)
    with pytest.raises(registry.Refused, match="pseudonymous"):
        registry.promote(name, reviewer="Jane Doe", version=1, root=store)


@store_test
def test_the_gate_judges_the_newest_validation_of_that_version(store):
    name = _register(store, [GREEN, GREEN])
    # a later training run with the same content (same version 1) whose validation is red
    _training_run(store, name, version=1, lights=RED)
    with pytest.raises(registry.Refused, match="2 red checks"):
        registry.promote(name, reviewer="u1", version=1, root=store)
    assert registry.promote(name, reviewer="u1", version=2, root=store).changed


@store_test
def test_cli_promote_prints_one_line_and_exits_1_on_refusal(store, monkeypatch, capsys):
    monkeypatch.setenv("RESEARCH_ROOT", str(store))
    settings = stage_context(store, write=False).settings
    model = next(iter(settings.models))
    name = _register(store, [GREEN, RED], name=settings.model(model).registry_name)
    registry.mark_candidate(name, 2, "v2", root=store)
    assert main(["promote", model, "--by", "u7"]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "2 red checks" in err and "--override" in err
    assert main(["promote", model, "--by", "u7", "--version", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "champion set to version 1" in out[0] and "red 0" in out[0]
    assert main(["promote", model, "--by", "u7", "--override", "committee 2026-12"]) == 0
    assert "from version 1 to 2" in capsys.readouterr().out
    assert registry.champion_version(name, root=store).tags["promoted_by"] == "u7"
