"""Test tiers: which tests are ``slow``, decided here in one place rather than in each file.

``make test`` runs everything; ``make test-fast`` (``pytest -m "not slow"``) runs the unit
tier, which must stay under a minute on two cores. A test is slow when it runs the pipeline
end to end, a notebook or the Dask engine, or when it (or the module fixture it is the first
to use) takes more than a few seconds. Figures in the comments are measured setup + call
seconds on the two-core development machine (``pytest -n 2 --durations=60``).

Marks given in test files (``pytest.mark.slow``) still count; this hook only adds marks.
When the fast tier is run, any unmarked test that takes longer than ``SLOW_SECONDS`` is
listed at the end of the run, so the lists below can be kept up to date.
"""

from __future__ import annotations

import pytest

from _pipeline_build import pipeline_build  # noqa: F401  (the shared dvc repro, session-scoped)

SLOW_SECONDS = 3.0

# Whole modules.
SLOW_MODULES = {
    "test_pipeline": "dvc repro of the whole pipeline (50-60 s per fixture)",
    "test_models_notebook": "runs the train notebook (42 s)",
    "test_dask_engine": "LocalCluster workers; Dask features and training (5-20 s each)",
    "test_benchmarks": "runs every benchmark script at its tiny size",
    "test_flat_route": "train, explain and validate a flat table in a temporary project (27 s)",
}

# Tests of a module that use one of its expensive module-scoped fixtures.
SLOW_FIXTURES = {
    "test_tracking": {
        "project": "an MLflow store with its schema migrations",
        "credit_run": "fits a model and logs it to MLflow (30-40 s)",
    },
    "test_synthetic": {"book": "six years of 3,000 generated customers (8 s)"},
    "test_explain_report": {
        "explained": "the explain pipeline end to end with its report (10-14 s)"
    },
    "test_score_batch": {
        "project": "generates a portfolio, trains, logs and registers a model (6-16 s)"
    },
    "test_package": {"fitted": "fits a graded and a decile model (3-5 s)"},
}

# Single tests (the name without parameters).
SLOW_TESTS = {
    "test_flat_dvc": {
        "test_flat_only_data_and_features_write_placeholders_without_building_anything": (
            "runs the data and features stages in a temporary project (3 s)"
        ),
    },
    "test_point_in_time": {
        "test_records_on_or_after_the_snapshot_change_no_feature": "50 hypothesis examples (42 s)",
        "test_records_on_or_after_an_anchor_change_no_anchored_feature": (
            "12 hypothesis examples (5 s)"
        ),
    },
    "test_validation_notebooks": {
        "test_validate_and_report_notebooks_run_end_to_end": "runs two notebooks",
    },
    "test_value_report": {"test_value_notebook_runs_on_a_small_project": "runs the value notebook"},
    "test_explain_report": {
        "test_native_switch_runs_the_same_pipeline": "the explain pipeline end to end (4 s)"
    },
    "test_explain": {
        "test_every_path_is_additive_on_generated_models": "three models, every SHAP path (3-6 s each)",
    },
    "test_package": {
        "test_probabilities_do_not_depend_on_numpys_processor_dispatch": "two subprocesses (5-9 s)"
    },
    "test_validation_stats": {
        "test_exact_roc_auc_ks_and_ranks_equal_sklearn_and_scipy_bit_for_bit": (
            "the exact AUC, KS and ranks against sklearn and scipy on many draws (4 s)"
        ),
    },
    "test_synthetic": {
        "test_written_files_are_byte_identical_for_one_and_two_workers": (
            "writes a portfolio with one worker, then two (3 s)"
        ),
    },
    "test_models_train": {
        "test_two_fits_with_the_same_seed_give_identical_predictions": "fits the model a second time (4-5 s)",
    },
}


def slow_reason(module: str, name: str, fixtures: list[str]) -> str | None:
    """Why a test of ``module`` named ``name`` using ``fixtures`` is slow (None if it is not)."""
    if module in SLOW_MODULES:
        return SLOW_MODULES[module]
    if name in SLOW_TESTS.get(module, {}):
        return SLOW_TESTS[module][name]
    for fixture, reason in SLOW_FIXTURES.get(module, {}).items():
        if fixture in fixtures:
            return reason
    return None


# --------------------------------------------------------------------------- xdist: groups and order
# ``make test`` runs ``pytest -n 2 --dist loadgroup``: a work unit is an ``xdist_group`` (all its
# tests on one worker) or a single test. A test using a module-scoped fixture of its module is
# put in the module's group, so the fixture is built once rather than once on each worker.
# Units are handed out in collection order (xdist's reordering by the number of tests is turned
# off), so the collection is ordered by cost: the modules below first, longest first, then the
# other slow tests, then the unit tier, so the two workers finish together (the order follows
# setup + call seconds of a full run with ``--durations``; refresh it when a module grows).
LONGEST_FIRST = (
    "test_pipeline",  # shared with test_deterministic_outputs (group "pipeline")
    "test_deterministic_outputs",
    "test_stages",
    "test_faults",
    "test_lineage",
    "test_tracking",
    "test_models_notebook",
    "test_dask_engine",
    "test_point_in_time",
    "test_package",
    "test_score_batch",
    "test_flat_route",
    "test_explain_report",
    "test_validation_notebooks",
    "test_value_report",
)


def _module_fixture_group(item: pytest.Item) -> str | None:
    """``module:<name>`` when the test uses a module-scoped fixture defined in its own module."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    for defs in info.name2fixturedefs.values():
        fixturedef = defs[-1]
        if (
            fixturedef.scope == "module"
            and fixturedef.baseid.split("::")[0] == item.nodeid.split("::")[0]
        ):
            return f"module:{item.path.stem}"
    return None


class _GroupNodeIds:
    """Give each grouped test the ``@<group>`` nodeid suffix that ``--dist loadgroup`` schedules by.

    pytest-xdist 3.8 appends it through the legacy ``Item._nodeid`` field, which pytest 9.2's
    structured node ids no longer read (pytest-dev/pytest-xdist#1386): every ``xdist_group``
    was ignored and each worker built the shared fixtures itself. Runs after xdist's hook and
    only where its suffix is missing, so a fixed xdist makes this a no-op.
    """

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        from _pytest.nodeid import NodeId

        for item in items:
            names = {
                str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                for mark in item.iter_markers("xdist_group")
            }
            suffix = "@" + "_".join(sorted(names))
            if names and not item.nodeid.endswith(suffix):
                item._id = NodeId.parse(item.nodeid + suffix)  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the collection order
        config.option.loadscopereorder = False
    if getattr(config.option, "loadgroup", False) and hasattr(pytest.Item, "id"):
        config.pluginmanager.register(_GroupNodeIds(), "research-xdist-group-ids")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        name = getattr(item, "originalname", None) or item.name
        reason = slow_reason(module, name, list(getattr(item, "fixturenames", ())))
        if reason is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow(reason=reason))
        if item.get_closest_marker("xdist_group") is None:
            group = _module_fixture_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    slow_modules = {item.path.stem for item in items if item.get_closest_marker("slow")}

    def order(item: pytest.Item) -> tuple[int, int]:
        module = item.path.stem
        if module in rank:
            return (0, rank[module])
        return (1, 0) if module in slow_modules else (2, 0)

    items.sort(key=order)  # stable: each module's tests stay together and in order


# --------------------------------------------------------------------------- keeping the lists honest

_seconds: dict[str, float] = {}
_unmarked: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs in the controller for every report, with or without xdist.
    if report.when in ("setup", "call"):
        _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration
        if report.when == "setup" and "slow" not in report.keywords:
            _unmarked.add(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    too_slow = sorted(
        (
            (seconds, nodeid)
            for nodeid, seconds in _seconds.items()
            if nodeid in _unmarked and seconds > SLOW_SECONDS
        ),
        reverse=True,
    )
    if too_slow:
        terminalreporter.section(f"tests not marked slow that took more than {SLOW_SECONDS:.0f} s")
        for seconds, nodeid in too_slow:
            terminalreporter.write_line(f"{seconds:6.1f}s {nodeid}  (add it to tests/conftest.py)")
