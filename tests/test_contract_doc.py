"""The documented input contract is the one the code enforces."""

from pathlib import Path

import pytest

from research.data.contract import TABLES, contract_markdown
from research.features.inputs import lost_text

ROOT = Path(__file__).resolve().parents[1]


def test_contract_doc_is_current():
    committed = (ROOT / "docs" / "input_contract.md").read_text(encoding="utf-8")
    assert committed == contract_markdown(lost=lost_text), (
        "run `research contract-doc` to regenerate docs/input_contract.md"
    )


def _row(doc: str, table: str, column: str) -> list[str]:
    section = doc.split(f"\n## {table}")[1].split("\n## ")[0]
    line = next(row for row in section.splitlines() if row.startswith(f"| `{column}` |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.parametrize(
    ("table", "column", "required", "empty", "lost"),
    [
        ("customers", "customer_id", "yes", "no", "all (no panel without it)"),
        ("customers", "rm_id", "optional", "yes", "none"),
        ("facilities", "interest_rate", "yes", "yes", "`fac_rate_vs_book`; value: interest"),
        ("facilities", "fee_rate", "optional", "yes", "none; value: fee income"),
        ("interactions", "satisfaction_score", "optional", "yes", "`eng_satisfaction_*`; value"),
        ("account_balances", "balance", "yes", "no", "`bal_*`"),
        ("events", "event_type", "yes", "no", "none"),
    ],
)
def test_every_column_states_required_empty_and_features_lost(
    table: str, column: str, required: str, empty: str, lost: str
):
    doc = contract_markdown(lost=lost_text)
    assert (
        "| column | type | required | empty allowed | allowed values | features lost without it | notes |"
        in doc
    )
    cells = _row(doc, table, column)
    assert cells[2:4] == [required, empty]
    assert cells[5].startswith(lost)


def test_every_vocabulary_ends_with_the_open_levels():
    doc = contract_markdown(lost=lost_text)
    for table in TABLES.values():
        for column in table.columns:
            if column.categories:
                assert column.categories[-2:] == ("other", "unknown")
                assert _row(doc, table.name, column.name)[4].endswith("other, unknown")


def test_the_data_layer_writes_the_document_without_features():
    doc = contract_markdown()
    assert "features lost" not in doc
    assert "| `rm_id` | id | optional | yes |  | relationship manager (pseudonymous) |" in doc
