"""``research generate``: a synthetic portfolio written block by block, as the data stage writes it."""

from __future__ import annotations

import pandas as pd
import pytest
from tests._project import ROOT

from research.cli import main
from research.data.check import check_folder
from research.data.synthetic import generate_portfolio


def test_generate_writes_the_portfolio_generate_portfolio_returns(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESEARCH_ROOT", str(ROOT))
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--customers", "40", "--seed", "3", "--out", "book"]) == 0
    out = capsys.readouterr().out
    assert "wrote 40 firms" in out and "book/raw" in out
    check = check_folder(tmp_path / "book" / "raw")
    assert check.errors == []
    from research.config import load_settings

    settings = load_settings(ROOT / "params.yaml")
    syn = settings.data.synthetic
    expected = generate_portfolio(
        n_customers=40,
        start=syn.start,
        months=syn.months,
        scenario=syn.scenario,
        transactions_per_month=syn.transactions_per_month,
        seed=3,
        default_dpd=settings.labels.default_dpd,
        horizons_months=settings.labels.horizons_months,
    )
    customers = pd.read_parquet(tmp_path / "book" / "raw" / "customers.parquet")
    assert len(customers) == 40
    assert customers["customer_id"].tolist() == expected.tables["customers"]["customer_id"].tolist()
    for name, frame in expected.tables.items():
        assert len(pd.read_parquet(tmp_path / "book" / "raw" / f"{name}.parquet")) == len(frame)


def test_generate_refuses_a_folder_that_holds_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("RESEARCH_ROOT", str(ROOT))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book" / "raw").mkdir(parents=True)
    (tmp_path / "book" / "raw" / "customers.parquet").write_bytes(b"old")
    with pytest.raises(SystemExit, match="is not empty"):
        main(["generate", "--customers", "40", "--out", "book"])
    assert (tmp_path / "book" / "raw" / "customers.parquet").read_bytes() == b"old"
