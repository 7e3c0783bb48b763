from datetime import UTC, datetime

import pytest

from cfevents.query import (
    TimeWindow,
    UsageQuery,
    build_usage_params,
    created_ats_params,
    page_size_for,
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


@pytest.mark.parametrize(
    ("limit", "per_page", "filtered", "expected"),
    [
        (50, None, False, 50),
        (7, None, False, 7),
        (20000, None, False, 5000),
        (None, None, False, 5000),
        (50, None, True, 5000),
        (50, 10, False, 10),
        (None, 100, True, 100),
    ],
)
def test_page_size_follows_limit(limit, per_page, filtered, expected):
    assert page_size_for(limit, per_page, client_filtered=filtered) == expected
