"""Engagement features on a hand-made fixture, values worked out by hand (snapshot 1 January 2024)."""

from __future__ import annotations

import pandas as pd
import pytest

from _feature_fixtures import at_snapshot, customers, table
from research.features.engagement import engagement_features

S = "2024-01-01"


def _touch(timestamp, channel, kind="inquiry", hours=None, score=None, customer="A"):
    return {
        "customer_id": customer,
        "timestamp": timestamp,
        "channel": channel,
        "interaction_type": kind,
        "response_hours": hours,
        "satisfaction_score": score,
    }


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    interactions = table(
        "interactions",
        [
            _touch("2023-12-20 12:00", "rm_visit", hours=2.0),
            _touch("2023-11-05 09:00", "phone", "complaint", hours=10.0, score=2.0),
            _touch("2023-08-15 15:00", "mobile_app", score=4.0),
            _touch("2023-03-01 08:00", "web_portal", "complaint", hours=24.0, score=3.0),
            _touch("2022-06-01 10:00", "email", "survey", score=5.0),  # the 12 months before
            _touch("2022-02-01 10:00", "rm_visit", score=3.0),
            _touch(
                "2024-01-01 00:00", "social_media", "complaint", score=1.0
            ),  # at the snapshot: not seen
        ],
    )
    return at_snapshot(
        engagement_features, interactions, customers("A", "B"), S, windows_months=[3, 6, 12]
    )


def test_touchpoints_channels_and_complaints(features):
    a = features.loc["A"]
    assert [a["eng_touchpoints_3m"], a["eng_touchpoints_6m"], a["eng_touchpoints_12m"]] == [2, 3, 4]
    channels = ["rm_visit", "phone", "email", "mobile_app", "web_portal", "social_media"]
    assert [a[f"eng_{c}_12m"] for c in channels] == [1, 1, 0, 1, 1, 0]
    assert a["eng_digital_share_12m"] == pytest.approx(0.5)
    assert [a["eng_complaints_3m"], a["eng_complaints_6m"], a["eng_complaints_12m"]] == [1, 1, 2]


def test_contact_service_and_satisfaction(features):
    a = features.loc["A"]
    assert a["eng_days_since_rm_contact"] == pytest.approx(11.5)
    assert a["eng_days_since_touchpoint"] == pytest.approx(11.5)
    assert a["eng_mean_response_hours_12m"] == pytest.approx((2 + 10 + 24) / 3)
    assert a["eng_satisfaction_12m"] == pytest.approx(3.0)
    assert a["eng_satisfaction_change_12m"] == pytest.approx(3.0 - 4.0)


def test_a_customer_without_interactions(features):
    b = features.loc["B"]
    assert (
        b.filter(regex="touchpoints|complaints|_12m$").drop(
            [
                "eng_digital_share_12m",
                "eng_mean_response_hours_12m",
                "eng_satisfaction_12m",
                "eng_satisfaction_change_12m",
            ]
        )
        == 0
    ).all()
    assert (
        b[
            [
                "eng_digital_share_12m",
                "eng_days_since_rm_contact",
                "eng_days_since_touchpoint",
                "eng_mean_response_hours_12m",
                "eng_satisfaction_12m",
                "eng_satisfaction_change_12m",
            ]
        ]
        .isna()
        .all()
    )
