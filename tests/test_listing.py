"""The one paging vocabulary: --per-page checks, page sizes, the comma splitter, Listing."""

import pytest

from cfevents.api import audit_endpoint
from cfevents.cc.paging import PageInfo
from cfevents.errors import UsageError
from cfevents.events.listing import Listing, Truncation, check_per_page, page_size, split_commas
from cfevents.events.query import V3_MAX_PER_PAGE


@pytest.mark.parametrize(
    ("per_page", "source", "ok"),
    [
        (None, "v2", True),
        (1, "v2", True),
        (100, "v2", True),
        (101, "v2", False),
        (500, "v2", False),
        (500, "v3", True),
        (5000, "v3", True),
        (5001, "v3", False),
        (0, "v3", False),
    ],
)
def test_check_per_page(per_page, source, ok):
    if ok:
        check_per_page(per_page, *audit_endpoint(source))
    else:
        with pytest.raises(UsageError, match="`per_page` must be between 1 and"):
            check_per_page(per_page, *audit_endpoint(source))


def test_v2_per_page_error_names_the_v2_limit():
    with pytest.raises(UsageError, match=r"between 1 and 100 for v2 /v2/events \(got 500\)"):
        check_per_page(500, *audit_endpoint("v2"))


def test_usage_per_page_error_names_the_endpoint():
    with pytest.raises(
        UsageError, match=r"between 1 and 5000 for v3 /v3/app_usage_events \(got 0\)"
    ):
        check_per_page(0, V3_MAX_PER_PAGE, "v3 /v3/app_usage_events")


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
    # usage events filtered after fetching read whole pages: the limit does not size them
    assert page_size(None if filtered else limit, per_page, V3_MAX_PER_PAGE) == expected


@pytest.mark.parametrize(
    ("limit", "per_page", "expected"),
    [(10, None, 21), (None, None, 100), (60, None, 100), (10, 7, 7)],
)
def test_crash_pages_hold_two_events_per_crash_and_one_to_look_ahead(limit, per_page, expected):
    assert page_size(limit, per_page, 100, per_result=2, ahead=1) == expected


def test_split_commas():
    assert split_commas(["a,b", " c ", "a", ""]) == ["a", "b", "c", "a"]
    assert split_commas(["a,b", " c ", "a", ""], unique=True) == ["a", "b", "c"]
    assert split_commas(None) == []


def test_listing_counts_what_was_taken_and_reports_the_cut():
    info = PageInfo(total_results=9)
    listing = Listing(
        iter("abc"),
        info,
        truncation=lambda shown: Truncation(shown, "events", info.total_results),
        empty_hint=lambda: "never shown: the listing is not empty",
    )
    assert list(listing) == ["a", "b", "c"]
    assert listing.count == 3 and listing.total_results == 9
    assert listing.truncation() == Truncation(3, "events", 9)
    assert listing.empty_hint() is None
    empty = Listing(iter(()), empty_hint=lambda: "no scope")
    assert list(empty) == [] and empty.empty_hint() == "no scope"
    assert empty.truncation() is None
