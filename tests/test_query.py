from datetime import UTC, datetime

import pytest

from cfevents.events.query import (
    TimeWindow,
    UsageQuery,
    build_usage_params,
    created_ats_params,
)

A = datetime(2024, 5, 1, tzinfo=UTC)
B = datetime(2024, 5, 8, 6, 7, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (UsageQuery(), []),
        (UsageQuery(window=TimeWindow(gte=A)), [("created_ats[gte]", "2024-05-01T00:00:00Z")]),
        (UsageQuery(window=TimeWindow(lt=B)), [("created_ats[lt]", "2024-05-08T06:07:08Z")]),
        (UsageQuery(window=TimeWindow(gt=A)), [("created_ats[gt]", "2024-05-01T00:00:00Z")]),
        (
            UsageQuery(window=TimeWindow(gte=A, lt=B)),
            [
                ("created_ats[gte]", "2024-05-01T00:00:00Z"),
                ("created_ats[lt]", "2024-05-08T06:07:08Z"),
            ],
        ),
        (
            UsageQuery(window=TimeWindow(equals=(A, B))),
            [("created_ats", "2024-05-01T00:00:00Z,2024-05-08T06:07:08Z")],
        ),
        (UsageQuery(guids=("g1", "g2")), [("guids", "g1,g2")]),
        (UsageQuery(after_guid="g0"), [("after_guid", "g0")]),
        (UsageQuery(order_by="-created_at"), [("order_by", "-created_at")]),
        (UsageQuery(per_page=5000, page=3), [("page", "3"), ("per_page", "5000")]),
        (
            UsageQuery(after_guid="g0", window=TimeWindow(gte=A), per_page=10),
            [
                ("after_guid", "g0"),
                ("created_ats[gte]", "2024-05-01T00:00:00Z"),
                ("per_page", "10"),
            ],
        ),
    ],
)
def test_build_usage_params(query, expected):
    assert build_usage_params(query) == expected


def test_created_ats_params_custom_key():
    assert created_ats_params(TimeWindow(gte=A), key="updated_ats") == [
        ("updated_ats[gte]", "2024-05-01T00:00:00Z")
    ]
