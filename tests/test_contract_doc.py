"""The documented input contract is the one the code enforces."""

from pathlib import Path

from research.data.contract import contract_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_contract_doc_is_current():
    committed = (ROOT / "docs" / "input_contract.md").read_text(encoding="utf-8")
    assert committed == contract_markdown(), (
        "run `research contract-doc` to regenerate docs/input_contract.md"
    )
