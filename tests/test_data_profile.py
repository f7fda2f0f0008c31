"""The portfolio profile's event rates (research.evaluation), by hand on a three-firm portfolio."""

from __future__ import annotations

import pandas as pd
import pytest

from research.evaluation import event_rates_by_year, oriented_auc


def _portfolio() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "segment": ["micro", "micro", "large"],
            "onboarding_date": pd.to_datetime(["2018-05-01", "2018-06-01", "2018-07-01"]),
            "relationship_end_date": pd.to_datetime([None, "2020-09-15", None]),
        }
    )
    due = pd.date_range("2019-01-31", "2021-12-31", freq="ME")
    rows = []
    for cid in ("C1", "C2", "C3"):
        for d in due:
            if cid == "C2" and d >= pd.Timestamp("2020-09-15"):
                break
            unpaid = cid == "C1" and d >= pd.Timestamp(
                "2020-03-31"
            )  # stops paying: default 90 days later
            rows.append(
                {
                    "facility_id": f"F{cid}",
                    "customer_id": cid,
                    "due_date": d,
                    "amount_due": 10.0,
                    "paid_date": pd.NaT if unpaid else d,
                    "amount_paid": None if unpaid else 10.0,
                }
            )
    return {"customers": customers, "repayments": pd.DataFrame(rows)}


def test_event_rates_by_year_by_hand():
    rates = event_rates_by_year(
        _portfolio(), default_dpd=90, as_of=pd.Timestamp("2021-12-31")
    ).set_index(["year", "segment"])
    # 2019: all three active, no events.
    assert rates.loc[(2019, "all"), "customers"] == 3
    assert rates.loc[(2019, "all"), "default_rate"] == 0.0
    # 2020: C1 defaults (2020-03-31 + 90 days = 2020-06-29), C2 leaves in September.
    assert rates.loc[(2020, "micro"), "default_rate"] == pytest.approx(0.5)
    assert rates.loc[(2020, "micro"), "churn_rate"] == pytest.approx(0.5)
    assert rates.loc[(2020, "large"), "default_rate"] == 0.0
    # 2021: only C3 is still active and not in default.
    assert rates.loc[(2021, "all"), "customers"] == 1
    assert 2022 not in rates.index.get_level_values("year")  # no complete year of data after 2021


def test_oriented_auc_takes_the_better_direction():
    label = pd.Series([0, 0, 1, 1])
    assert oriented_auc(label, pd.Series([4.0, 3.0, 2.0, 1.0])) == 1.0
    assert oriented_auc(label, pd.Series([1.0, 2.0, 3.0, 4.0])) == 1.0
    assert oriented_auc(label, pd.Series([1.0, 1.0, 1.0, 1.0])) == 0.5


def test_folder_counts_are_the_counts_of_the_frames(tmp_path):
    """``folder_counts`` reads the written files column-wise: the figures of ``table_counts``."""
    from research.data.io import write_tables
    from research.data.profile import folder_counts, table_counts

    tables = _portfolio()
    tables["customers"].loc[0, "onboarding_date"] = pd.NaT  # an empty date is skipped
    write_tables(tables, tmp_path)
    expected = table_counts(tables).set_index("table").sort_index()
    got = folder_counts(tmp_path).set_index("table").sort_index()
    pd.testing.assert_frame_equal(got, expected)
    assert got.loc["customers"].tolist() == [
        3,
        3,
        pd.Timestamp("2018-06-01"),
        pd.Timestamp("2020-09-15"),
    ]
    assert got.loc["repayments", "rows"] == len(tables["repayments"])
    assert got.loc["repayments", "last_date"] == pd.Timestamp("2021-12-31")


@pytest.mark.slow  # the data stage of a small synthetic project, written block by block
def test_the_data_stage_writes_the_synthetic_book_by_blocks(tmp_path):
    import json

    import yaml

    from _project import copy_project
    from research.data.io import read_tables
    from research.data.profile import folder_counts
    from research.data.schema import validate_tables
    from research.data.synthetic import generate_portfolio
    from research.stages import data as data_stage
    from research.stages._context import stage_context

    root = copy_project(tmp_path / "project")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["synthetic"]["n_customers"] = 120
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ctx = stage_context(root, write=True)
    result = data_stage.run(ctx)
    assert isinstance(result, data_stage.DataResult)
    syn = ctx.settings.data.synthetic
    expected = generate_portfolio(
        n_customers=120,
        start=syn.start,
        months=syn.months,
        scenario=syn.scenario,
        transactions_per_month=syn.transactions_per_month,
        seed=ctx.settings.seed,
        default_dpd=ctx.settings.labels.default_dpd,
        horizons_months=ctx.settings.labels.horizons_months,
    )
    raw = root / "data" / "raw"
    written = read_tables(raw)
    for name, frame in validate_tables(expected.tables).items():
        pd.testing.assert_frame_equal(written[name], frame)
        pd.testing.assert_frame_equal(result.tables[name], frame)  # read on access
    pd.testing.assert_frame_equal(result.truth["oracle"], expected.truth["oracle"])
    pd.testing.assert_frame_equal(result.counts, folder_counts(raw))
    assert f"{result.as_of.date}" == "2024-12-31"
    info = json.loads((raw / "_source.json").read_text())
    assert info["kind"] == "synthetic" and info["as_of"] == "2024-12-31"
    assert result.informativeness is not None and not result.informativeness.empty
    assert not any("informativeness: measured on" in note for note in result.notes)
    assert [p.name for p in (root / "data").iterdir() if ".tmp-" in p.name] == []  # no staging
