"""A bank's real export: open vocabulary levels, optional and empty columns, did-you-mean for
unknown codes, the personal-data and one-currency guards, and which features each input feeds."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from _tables import small_valid_tables
from research.data.contract import OPEN_LEVELS, TABLES
from research.data.schema import (
    RULES,
    SchemaError,
    SchemaErrors,
    check_tables,
    closest_level,
    personal_data_kind,
    validate_tables,
)
from research.features.applications import application_features
from research.features.cashflow import cashflow_features
from research.features.catalog import feature_catalog
from research.features.engagement import engagement_features
from research.features.facilities import facility_features
from research.features.inputs import (
    INPUTS,
    features_lost,
    lost_text,
    matches,
    missing_input_notes,
    standard_feature_names,
)
from research.features.relationship import relationship_features

Tables = dict[str, pd.DataFrame]
S = "2024-01-01"
FIX_PERSONAL = (
    "the input contract takes pseudonymous ids only: drop the column from the export, or list "
    "it under drop: in the source mapping"
)


def _all_tables() -> Tables:
    """The small valid portfolio with the two optional tables it lacks."""
    tables = small_valid_tables()
    tables["account_balances"] = pd.DataFrame(
        {
            "customer_id": ["C001", "C002"],
            "balance_date": pd.to_datetime(["2023-01-31", "2023-01-31"]),
            "balance": [15_000.0, -2_500.0],
        }
    )
    tables["events"] = pd.DataFrame(
        {
            "customer_id": ["C002", "C003"],
            "event_type": ["default", "churn"],
            "event_date": pd.to_datetime(["2023-08-15", "2024-06-30"]),
        }
    )
    return tables


def _set(frame: pd.DataFrame, column: str, row: int, value: object) -> None:
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value


# --- open levels ------------------------------------------------------------------------

VOCABULARIES = [(t.name, c.name) for t in TABLES.values() for c in t.columns if c.categories]


def test_every_vocabulary_ends_with_other_and_unknown():
    assert OPEN_LEVELS == ("other", "unknown")
    assert len(VOCABULARIES) == 13
    for name, column in VOCABULARIES:
        levels = TABLES[name].column(column).categories
        assert levels is not None and levels[-2:] == OPEN_LEVELS
        assert len(set(levels)) == len(levels)


@pytest.mark.parametrize("level", OPEN_LEVELS)
def test_the_open_levels_pass_validation_in_every_vocabulary(level: str):
    tables = _all_tables()
    for name, column in VOCABULARIES:
        _set(tables[name], column, 0, level)
    validated = validate_tables(tables)
    assert [validated[name][column].iloc[0] for name, column in VOCABULARIES] == [level] * 13


def _facility(fid, customer, product, collateral, limit, rate):
    return {
        "facility_id": fid,
        "customer_id": customer,
        "product": product,
        "origination_date": "2020-01-01",
        "collateral_type": collateral,
        "limit_amount": limit,
        "interest_rate": rate,
    }


def test_facility_features_count_the_open_levels_and_skip_empty_rates():
    facilities = table(
        "facilities",
        [
            _facility("F1", "A", "term_loan", "unsecured", 1000.0, 0.05),
            _facility("F2", "A", "other", "unknown", 500.0, np.nan),
            _facility("F3", "A", "unknown", "other", 300.0, 0.10),
            _facility("F4", "B", "revolver", "real_estate", 200.0, np.nan),
        ],
    )
    features = at_snapshot(
        facility_features,
        facilities,
        customers("A", "B"),
        S,
        long_window_months=12,
        trend_recent_months=3,
    )
    specific = at_snapshot(
        facility_features,
        table("facilities", [_facility("F1", "A", "term_loan", "unsecured", 1.0, 0.05)]),
        customers("A", "B"),
        S,
        long_window_months=12,
        trend_recent_months=3,
    )
    assert list(features.columns) == list(specific.columns)  # no feature of their own
    a, b = features.loc["A"], features.loc["B"]
    assert a["fac_active_count"] == 3 and a["fac_total_limit"] == 1800.0
    assert a["fac_product_count"] == 3  # term_loan, other, unknown: each a product
    # the empty rate is not known: F2 leaves the limit-weighted mean
    assert a["fac_mean_interest_rate"] == pytest.approx((1000 * 0.05 + 300 * 0.10) / 1300)
    # unknown collateral leaves the share; 'other' collateral is collateral
    assert a["fac_secured_share"] == pytest.approx(300 / 1300)
    assert np.isnan(b["fac_mean_interest_rate"]) and b["fac_secured_share"] == 1.0


def test_engagement_cash_flow_and_application_features_count_open_levels_in_totals():
    interactions = table(
        "interactions",
        [
            {"customer_id": "A", "timestamp": "2023-12-01", "channel": "other"},
            {"customer_id": "A", "timestamp": "2023-11-01", "channel": "unknown"},
            {"customer_id": "A", "timestamp": "2023-10-01", "channel": "phone"},
            {
                "customer_id": "A",
                "timestamp": "2023-09-01",
                "channel": "web_portal",
                "interaction_type": "other",
            },
        ],
    )
    eng = at_snapshot(
        engagement_features, interactions, customers("A"), S, windows_months=[3, 12]
    ).loc["A"]
    assert eng["eng_touchpoints_12m"] == 4 and eng["eng_touchpoints_3m"] == 3
    assert eng["eng_phone_12m"] == 1 and eng["eng_web_portal_12m"] == 1
    assert eng["eng_digital_share_12m"] == pytest.approx(1 / 4)
    assert eng["eng_complaints_12m"] == 0
    assert not [c for c in eng.index if "other" in c or "unknown" in c]

    transactions = table(
        "transactions",
        [
            {"customer_id": "A", "timestamp": "2023-12-01", "amount": 100.0, "channel": "unknown"},
            {"customer_id": "A", "timestamp": "2023-11-01", "amount": -40.0, "channel": None},
            {"customer_id": "A", "timestamp": "2023-10-01", "amount": 60.0, "channel": "swift"},
            {
                "customer_id": "A",
                "timestamp": "2023-09-01",
                "amount": 10.0,
                "channel": "mobile_app",
            },
        ],
    )
    cf = at_snapshot(
        cashflow_features,
        transactions,
        customers("A"),
        S,
        windows_months=[3, 12],
        trend_recent_months=3,
    ).loc["A"]
    assert cf["cf_inflow_count_12m"] == 3 and cf["cf_outflow_amount_12m"] == 40.0
    assert cf["cf_digital_share_12m"] == pytest.approx(1 / 4)

    applications = table(
        "applications",
        [
            {
                "application_id": "P1",
                "customer_id": "A",
                "submitted_date": "2023-06-01",
                "decision": "other",
                "decided_date": "2023-06-11",
            },
            {
                "application_id": "P2",
                "customer_id": "A",
                "submitted_date": "2023-07-01",
                "decision": "declined",
                "decided_date": "2023-07-03",
            },
        ],
    )
    app = at_snapshot(
        application_features, applications, customers("A"), S, long_window_months=12
    ).loc["A"]
    assert app["app_decline_share_12m"] == 0.5 and app["app_withdrawn_12m"] == 0
    assert app["app_mean_turnaround_days_12m"] == pytest.approx(6.0)


# --- optional and empty columns ---------------------------------------------------------

OPTIONAL = [(t.name, c.name) for t in TABLES.values() for c in t.columns if c.optional]
CANONICAL = {"id": "str", "category": "str", "date": "datetime64[ns]", "float": "float64"}


def test_the_optional_columns():
    assert OPTIONAL == [
        ("customers", "relationship_end_date"),
        ("customers", "green_flag"),
        ("customers", "inclusive_flag"),
        ("customers", "rm_id"),
        ("facilities", "close_date"),
        ("facilities", "fee_rate"),
        ("facilities", "green_loan"),
        ("transactions", "channel"),
        ("transactions", "category"),
        ("interactions", "response_hours"),
        ("interactions", "satisfaction_score"),
        ("financials", "cfads"),
        ("financials", "debt_service"),
    ]
    # no key, id of record, event time or rule needs one
    for name, column in OPTIONAL:
        spec = TABLES[name]
        assert spec.column(column).nullable
        assert column not in spec.key
        assert not [pair for pair in spec.date_order if column == pair[0]]
    with pytest.raises(ValueError, match="optional but not nullable"):
        type(TABLES["customers"].column("rm_id"))("x", "id", optional=True)


def test_absent_optional_columns_read_as_empty_with_canonical_dtypes():
    tables = _all_tables()
    for name, column in OPTIONAL:
        tables[name] = tables[name].drop(columns=column)
    validated = validate_tables(tables)
    for name, column in OPTIONAL:
        frame = validated[name]
        assert list(frame.columns) == list(TABLES[name].column_names)
        kind = TABLES[name].column(column).kind
        assert str(frame[column].dtype) == ("boolean" if kind == "bool" else CANONICAL[kind])
        assert frame[column].isna().all(), (name, column)


def test_a_required_column_stays_required_and_an_optional_one_may_be_empty():
    tables = small_valid_tables()
    tables["facilities"]["interest_rate"] = np.nan  # required, but may be empty
    tables["customers"]["green_flag"] = [True, None, False]
    validated = validate_tables(tables)
    assert validated["facilities"]["interest_rate"].isna().all()
    assert validated["customers"]["green_flag"].tolist() == [True, pd.NA, False]
    tables["facilities"] = tables["facilities"].drop(columns="interest_rate")
    with pytest.raises(SchemaError, match=r"^facilities\.interest_rate: rule 'required column'"):
        validate_tables(tables)


def test_relationship_features_of_an_absent_flag_are_missing_not_false():
    raw = small_valid_tables()["customers"].drop(columns=["green_flag", "inclusive_flag"])
    people = validate_tables({"customers": raw})["customers"]
    features = at_snapshot(relationship_features, people, people, S)
    assert features["green_flag"].isna().all() and features["inclusive_flag"].isna().all()
    assert features["rel_tenure_months"].notna().all()


# --- did you mean -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "levels", "match"),
    [
        ("Micro", ("micro", "small"), "micro"),
        ("amortizing", ("amortising", "bullet"), "amortising"),
        ("Term Loan", ("term_loan", "revolver"), "term_loan"),
        ("project-spv", ("project_spv",), "project_spv"),
        ("UNKNOWN", ("unsecured", "other", "unknown"), "unknown"),
        ("none", ("unsecured", "other", "unknown"), None),
        ("mega_corp", ("micro", "small", "large"), None),
    ],
)
def test_the_closest_level(value: str, levels: tuple[str, ...], match: str | None):
    assert closest_level(value, levels) == match


def test_unknown_values_get_the_closest_allowed_one_and_the_mapping_fix():
    tables = small_valid_tables()
    tables["customers"]["segment"] = ["Micro", "mega_corp", "small"]
    tables["facilities"]["repayment_type"] = ["amortizing", "revolving", "sculpted"]
    with pytest.raises(SchemaErrors) as info:
        validate_tables(tables)
    segment, repayment = info.value.errors
    assert str(segment).splitlines()[0] == (
        "customers.segment: rule 'allowed categories' failed for 2 of 3 rows (unknown values: "
        "'Micro' (did you mean 'micro'?), 'mega_corp'); e.g.:"
    )
    assert segment.fix == (
        "map the values to one of: micro, small, medium, large, multinational, project_spv, "
        "other, unknown (case-sensitive) in the source mapping's values: section for "
        "customers.segment (e.g. 'Micro': 'micro'); map a value the contract does not name to "
        "'other', one not known to 'unknown'"
    )
    assert list(segment.examples["segment"]) == ["Micro", "mega_corp"]
    assert str(repayment).splitlines()[0] == (
        "facilities.repayment_type: rule 'allowed categories' failed for 1 of 3 rows (unknown "
        "values: 'amortizing' (did you mean 'amortising'?)); e.g.:"
    )
    assert "(e.g. 'amortizing': 'amortising')" in repayment.fix


# --- no personal data -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("name", "a person's or firm's name"),
        ("FirstName", "a person's or firm's name"),
        ("last_name", "a person's or firm's name"),
        ("surname", "a person's or firm's name"),
        ("customer_name", "a person's or firm's name"),
        ("tax_id", "a tax or national identification number"),
        ("TIN", "a tax or national identification number"),
        ("vat_number", "a tax or national identification number"),
        ("social_security_number", "a tax or national identification number"),
        ("national_id", "a tax or national identification number"),
        ("registration_no", "a company registration number"),
        ("company_number", "a company registration number"),
        ("e-mail", "an e-mail address"),
        ("contactEmail", "an e-mail address"),
        ("phone", "a phone number"),
        ("mobile_number", "a phone number"),
        ("street", "a postal address"),
        ("address_line_1", "a postal address"),
        ("date_of_birth", "a birth date"),
        ("dob", "a birth date"),
        ("IBAN", "an IBAN or account number"),
        ("account_no", "an IBAN or account number"),
        # contract columns and ordinary words are not personal data
        ("rm_id", None),
        ("customer_id", None),
        ("account_id", None),
        ("company_id", None),
        ("product_name", None),
        ("branch_name", None),
        ("tax_amount", None),
        ("email_count", None),
        ("has_phone", None),
        ("mobile_app_logins", None),
        ("registration_date", None),
        ("notes", None),
        ("timestamp", None),
        ("channel", None),
    ],
)
def test_names_that_look_like_personal_data(name: str, kind: str | None):
    assert personal_data_kind(name) == kind


def test_columns_named_like_personal_data_are_refused_in_any_table():
    tables = small_valid_tables()
    tables["customers"]["customer_name"] = ["Alpha Ltd", "Beta GmbH", "Gamma SA"]
    tables["customers"]["product_name"] = ["x", "y", "z"]  # an ordinary extra column
    tables["facilities"]["iban"] = ["AT61 1904 3002 3457 3201"] * 3
    with pytest.raises(SchemaErrors) as info:
        validate_tables(tables)
    first, second = info.value.errors
    assert str(first) == (
        "customers.customer_name: rule 'no personal data' failed: the column name looks like "
        f"personal data (a person's or firm's name)\nFix: {FIX_PERSONAL}"
    )
    assert (first.table, first.column, first.rule, first.examples) == (
        "customers",
        "customer_name",
        "no personal data",
        None,
    )
    assert (second.table, second.column) == ("facilities", "iban")
    assert "(an IBAN or account number)" in str(second)


def test_text_columns_holding_e_mail_addresses_are_refused_without_showing_them():
    tables = small_valid_tables()
    tables["transactions"]["counterparty"] = [
        "supplier ltd",
        "pay j.doe@example.com today",
        None,
        "ACME <ops@acme.co.uk>",
    ]
    with pytest.raises(SchemaError) as info:
        validate_tables(tables)
    error = info.value
    assert str(error) == (
        "transactions.counterparty: rule 'no personal data' failed for 2 of 3 sampled rows "
        "(values that hold e-mail addresses; not shown); e.g.:\n"
        "  customer_id           timestamp      counterparty\n"
        "1        C001 2023-01-04 17:40:00  <e-mail address>\n"
        "3        C003 2023-01-06 08:30:00  <e-mail address>\n"
        f"Fix: {FIX_PERSONAL}"
    )
    assert (error.count, error.total, error.rule) == (2, 3, "no personal data")
    assert "example.com" not in json.dumps(error.record(), default=str)


def test_text_columns_of_phone_numbers_are_refused_and_look_alikes_are_not():
    tables = small_valid_tables()
    tables["interactions"]["callback"] = ["+43 664 1234567", "(01) 234 5678", "0664-1234567"]
    with pytest.raises(SchemaError, match=r"for 3 of 3 sampled rows \(values that are phone"):
        validate_tables(tables)
    tables["interactions"]["callback"] = ["01.02.2023", "0.12345678", "00012345"]
    tables["interactions"]["amount_text"] = ["12 345 678", "1 234", "2023-01-31"]
    validate_tables(tables)


# --- one currency -----------------------------------------------------------------------


def test_a_currency_column_with_several_currencies_is_refused():
    tables = small_valid_tables()
    tables["transactions"]["currency"] = ["EUR", "EUR", "USD", " eur"]
    with pytest.raises(SchemaError) as info:
        validate_tables(tables)
    error = info.value
    assert str(error) == (
        "transactions.currency: rule 'one currency' failed for 1 of 4 rows (2 currencies: "
        "'EUR' (3 rows), 'USD' (1 row)); e.g.:\n"
        "  customer_id           timestamp currency\n"
        "0        C001 2023-01-03 09:15:00      EUR\n"
        "2        C002 2023-01-05 11:00:00      USD\n"
        "Fix: amounts must be in one currency: convert the amounts of the other currencies into "
        "one (e.g. at each record's date) before the export, then state that currency in the "
        "source mapping and drop the currency column"
    )
    assert (error.count, error.total) == (1, 4)


def test_one_currency_is_fine():
    tables = small_valid_tables()
    tables["facilities"]["CCY"] = ["EUR", "EUR", None]
    validated = validate_tables(tables)
    assert validated["facilities"]["CCY"].iloc[:2].tolist() == ["EUR", "EUR"]


def test_the_new_rules_are_reported_with_all_others_in_one_run():
    tables = small_valid_tables()
    tables["customers"]["email"] = ["a@b.com", "c@d.com", "e@f.com"]
    tables["customers"]["segment"] = ["small", "Large", "large"]
    tables["facilities"]["currency_code"] = ["EUR", "CHF", "EUR"]
    tables["facilities"] = tables["facilities"].drop(columns="fee_rate")  # optional: fine
    checked, errors = check_tables(tables)
    assert [(e.table, e.column, e.rule) for e in SchemaErrors(errors).errors] == [
        ("customers", "email", "no personal data"),
        ("customers", "segment", "allowed categories"),
        ("facilities", "currency_code", "one currency"),
    ]
    assert RULES.index("required column") < RULES.index("no personal data")
    assert RULES.index("one currency") < RULES.index("time zone")
    records = json.loads(json.dumps([e.record() for e in errors], default=str))
    assert [r["rule"] for r in records] == [
        "no personal data",
        "allowed categories",
        "one currency",
    ]
    assert records[2]["examples"][1]["currency_code"] == "CHF"
    assert checked["facilities"]["fee_rate"].isna().all()


# --- which features each input feeds ----------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        ([3, 6, 12], 12, [30, 60, 90], 3),
        ([1, 24], 18, [15], 6),
    ],
)
def test_every_catalog_feature_is_attributed_to_an_input(settings):
    names = list(feature_catalog(*settings))
    patterns = [p for feeds in INPUTS.values() for p in feeds.features]
    assert [n for n in names if not matches(n, patterns)] == []
    unmatched = [p for p in patterns if not matches_any(p, names)]
    # the account-balance features may not be in the catalog yet; nothing else may rot
    assert all(p.startswith("bal_") for p in unmatched), unmatched


def matches_any(pattern: str, names: list[str]) -> bool:
    return any(matches(name, [pattern]) for name in names)


def test_the_declaration_covers_every_contract_column():
    assert set(INPUTS) == {(t.name, c.name) for t in TABLES.values() for c in t.columns}


def test_features_lost_by_table_and_column():
    names = standard_feature_names()
    assert features_lost("customers") == names
    assert features_lost("customers", "rm_id") == []
    assert features_lost("events") == []
    assert features_lost("facilities", "interest_rate") == ["fac_rate_vs_book"]
    assert features_lost("transactions", "channel") == ["cf_digital_share_book_rank_12m"]
    assert features_lost("financials", "cfads", names) == ["fin_dscr"]
    lost = features_lost("transactions")
    assert {n for n in lost if not n.startswith("cf_")} == {
        n for n in names if n.startswith("bal_cash_cover_")
    }
    assert features_lost("interactions", "channel", ["eng_phone_12m", "eng_touchpoints_3m"]) == [
        "eng_phone_12m"
    ]
    with pytest.raises(KeyError, match="not a column of facilities"):
        features_lost("facilities", "fee")
    with pytest.raises(KeyError, match="not a table"):
        features_lost("loans")
    assert lost_text("customers") == "all (no panel without it); the table is mandatory"
    assert lost_text("facilities", "fee_rate").startswith("none; value: fee income")


def test_missing_input_notes():
    tables = small_valid_tables()
    for name in ("facility_balances", "repayments", "interactions", "financials", "applications"):
        del tables[name]
    tables["facilities"] = tables["facilities"].drop(columns="fee_rate").assign(fee_rates=0.01)
    tables["facilities"]["interest_rate"] = np.nan
    tables["transactions"] = tables["transactions"].drop(columns="channel")
    names = ["fac_rate_vs_book", "cf_digital_share_book_rank_12m", "cf_inflow_count_3m"]
    notes = missing_input_notes(validate_tables(tables), names)
    assert notes == [
        "facilities.interest_rate: empty in every row, so 1 feature lost: fac_rate_vs_book; "
        "also value: interest income (an empty rate takes its product's median rate)",
        "facilities.fee_rate: empty in every row, so no feature is lost; also value: fee income "
        "(an empty rate takes its product's median fee rate) (the table has a column "
        "'fee_rates': rename it if it is this one)",
        "facility_balances: table absent, so no feature is lost; also value: drawn exposure and "
        "interest income",
        "repayments: table absent, so no feature is lost; also the derived default label and "
        "the exclusion of defaulted customers (unless the events table gives default events)",
        "transactions.channel: empty in every row, so 1 feature lost: "
        "cf_digital_share_book_rank_12m",
        "interactions: table absent, so no feature is lost; also value: the satisfaction index",
        "financials: table absent, so no feature is lost",
        "applications: table absent, so no feature is lost",
        "account_balances: table absent, so no feature is lost",
        "events: table absent, so no feature is lost; also labels are then derived: defaults "
        "from repayments (days past due), churn from customers' relationship end dates",
    ]
    raw_notes = missing_input_notes(tables, names)  # raw tables: the column is absent
    assert raw_notes[1].startswith("facilities.fee_rate: column absent, so no feature is lost")
    assert any(re.match(r"transactions\.channel: column absent", n) for n in raw_notes)
