"""Rates files (report/rates.py): parsing and checks as a table, and costs on scripted events
computed by hand (exact fractions, independent of the library's Decimal arithmetic)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from report_helpers import ev, report, task_ev

from cfevents.errors import UsageError
from cfevents.report.rates import cents, load_rates, parse_rates

D = Decimal
NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)


def half_even_cents(value: Fraction) -> Decimal:
    """Round an exact fraction to cents, ties to even (the documented rule), independently."""
    scaled = value * 100
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * rest
    if twice > scaled.denominator or (twice == scaled.denominator and whole % 2):
        whole += 1
    return D(whole) / 100


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "currency: give the currency"),
        ({"currency": "EUR", "colour": 1}, "unknown key 'colour'"),
        ({"currency": "EUR", "app": {"memory_gb": D(1)}}, "[app]: unknown key 'memory_gb'"),
        (
            {"currency": "EUR", "app": {"memory_gb_hour": D("-0.01")}},
            "app.memory_gb_hour: -0.01 is negative",
        ),
        ({"currency": "EUR", "task": {"memory_gb_hour": "cheap"}}, "'cheap' is not a number"),
        ({"currency": "EUR", "task": {"memory_gb_hour": True}}, "True is not a number"),
        ({"currency": "EUR", "service_plans": {"a/b": D(-1)}}, "service_plans.a/b: -1 is negative"),
        ({"currency": "EUR", "orgs": {"acme": D("NaN")}}, "is not a number"),
        (
            {"currency": "EUR", "app": {"periods": [{"memory_gb_hour": D(1)}]}},
            "from must be a date",
        ),
        (
            {"currency": "EUR", "app": {"periods": [{"from": NOON, "price": D(1)}]}},
            "app.periods[1]: unknown key 'price'",
        ),
        (
            {"currency": "EUR", "app": {"periods": [{"from": NOON}, {"from": date(2024, 5, 1)}]}},
            "from must be later than the period before",
        ),
        ({"currency": "EUR", "service_plans": [1]}, "service_plans must be a table"),
    ],
)
def test_bad_rates_are_one_usage_error(doc, message):
    with pytest.raises(UsageError) as caught:
        parse_rates(doc, source="r.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("--rates r.toml: ")
    assert "\n" not in str(caught.value)


def test_a_rates_file_is_read_as_decimals_with_periods_inheriting(tmp_path):
    path = tmp_path / "rates.toml"
    path.write_text(
        'currency = "EUR"\n'
        "[app]\nmemory_gb_hour = 0.1\ninstance_hour = 0.01\n"
        "[[app.periods]]\nfrom = 2024-05-01T12:00:00Z\nmemory_gb_hour = 0.3\n"
        "[[app.periods]]\nfrom = 2024-06-01\ninstance_hour = 0.02\n"
        '[task]\nmemory_gb_hour = "0.2"\n'
        '[service_plans]\n"db/small" = 0.05\ndefault = 0.01\n'
        "[orgs]\nacme = 0.9\n"
    )
    rates = load_rates(path)
    assert rates.currency == "EUR" and rates.source == str(path)
    prices = [(p.memory_gb_hour, p.instance_hour) for p in rates.app.periods]
    assert prices == [(D("0.1"), D("0.01")), (D("0.3"), D("0.01")), (D("0.3"), D("0.02"))]
    assert all(isinstance(v, Decimal) for pair in prices for v in pair)
    assert rates.cuts() == (
        int(NOON.timestamp()),
        int(datetime(2024, 6, 1, tzinfo=UTC).timestamp()),
    )
    assert rates.task.periods[0].memory_gb_hour == D("0.2")
    assert rates.plan_price("guid-x", "db/small") == D("0.05")
    assert rates.plan_price("guid-y", "db/large") == D("0.01")  # the default
    assert rates.multiplier("org-guid", "acme") == D("0.9")
    assert rates.multiplier("org-guid", "other") == D(1)


def test_unreadable_and_invalid_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read it"):
        load_rates(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("currency = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_rates(bad)


def test_rounding_is_half_even_to_the_cent():
    assert [cents(D(v)) for v in ("0.125", "0.135", "0.1251", "-0.005", "2.675")] == [
        D("0.12"),
        D("0.14"),
        D("0.13"),
        D("-0.00"),
        D("2.68"),
    ]


def _rates(**orgs: Decimal):
    return parse_rates(
        {
            "currency": "EUR",
            "app": {
                "memory_gb_hour": D("0.0125"),
                "instance_hour": D("0.002"),
                "periods": [{"from": NOON, "memory_gb_hour": D("0.0175")}],
            },
            "task": {
                "memory_gb_hour": D("0.02"),
                "periods": [
                    {
                        "from": datetime(2024, 5, 1, 12, 30, 7, tzinfo=UTC),
                        "memory_gb_hour": D("0.05"),
                    }
                ],
            },
            "orgs": dict(orgs),
        }
    )


EVENTS = [
    # 3 x 700 MB from 09:17:13 to 15:02:41, across the app price change at noon
    ev("09:17:13", "P", "STARTED", "STOPPED", (3, 3), (700, 700)),
    # a task of 1500 MB from 11:11:11 to 13:13:13, across the task price change at 12:30:07
    task_ev("11:11:11", "T", "TASK_STARTED", None, 1500),
    task_ev("13:13:13", "T", "TASK_STOPPED", "RUNNING", 1500),
    ev("15:02:41", "P", "STOPPED", "STARTED", (3, 3), (700, 700)),
]


def _expected(discount: Fraction) -> tuple[Decimal, Decimal]:
    before, after = 12 * 3600 - (9 * 3600 + 17 * 60 + 13), 15 * 3600 + 2 * 60 + 41 - 12 * 3600
    gb = Fraction(3 * 700, 1024)
    apps = (gb * before * Fraction("0.0125") + gb * after * Fraction("0.0175")) / 3600 + 3 * (
        before + after
    ) * Fraction("0.002") / 3600
    t_before = (12 * 3600 + 30 * 60 + 7) - (11 * 3600 + 11 * 60 + 11)
    t_after = (13 * 3600 + 13 * 60 + 13) - (12 * 3600 + 30 * 60 + 7)
    tgb = Fraction(1500, 1024)
    tasks = (tgb * t_before * Fraction("0.02") + tgb * t_after * Fraction("0.05")) / 3600
    return half_even_cents(apps * discount), half_even_cents(tasks * discount)


@pytest.mark.parametrize("daily", [False, True])
@pytest.mark.parametrize("discount", [None, "0.85"])
def test_costs_split_exactly_at_each_price_change(daily, discount):
    rates = _rates(**({"org-one": D(discount)} if discount else {}))
    rep = report(EVENTS, by="app", rates=rates, daily=daily)
    apps, tasks = _expected(Fraction(discount or 1))
    (row,) = rep.rows
    assert (row["app_cost"], row["task_cost"], row["cost"]) == (apps, tasks, apps + tasks)
    assert row["currency"] == "EUR"
    assert rep.totals["cost"] == row["cost"]
    assert rep.meta["rates"]["currency"] == "EUR"
    # the seconds themselves are unchanged by pricing
    plain = report(EVENTS, by="app", daily=daily)
    assert {k: plain.rows[0][k] for k in plain.fields} == {k: row[k] for k in plain.fields}


def test_daily_rows_are_each_rounded_and_the_total_is_their_sum():
    rates = _rates()
    events = [
        ev("2024-05-01T07:00:00Z", "P", "STARTED", "STOPPED", (1, 1), (333, 333)),
        ev("2024-05-03T05:00:00Z", "P", "STOPPED", "STARTED", (1, 1), (333, 333)),
    ]
    from report_helpers import dt

    from cfevents.report import Window

    window = Window(dt("2024-05-01T00:00:00Z"), dt("2024-05-04T00:00:00Z"))
    rep = report(
        events, by="app", rates=rates, daily=True, window=window, now=dt("2024-05-05T00:00:00Z")
    )
    assert len(rep.rows) == 3
    assert rep.totals["cost"] == sum(r["cost"] for r in rep.rows)
    assert all(r["cost"] == cents(r["cost"]) for r in rep.rows)


def test_service_plan_periods_override_the_plans_they_list_from_their_instant():
    rates = parse_rates(
        {
            "currency": "EUR",
            "service_plans": {
                "db/small": D("0.05"),
                "default": D("0.01"),
                "periods": [
                    {"from": NOON, "db/small": D("0.06")},
                    {"from": date(2024, 6, 1), "default": D("0.02"), "guid-9": D("0.5")},
                ],
            },
        }
    )
    assert rates.service_cuts() == (int(NOON.timestamp()), 1717200000)
    assert [rates.plan_price("g", "db/small", p) for p in (0, 1, 2)] == [
        D("0.05"),
        D("0.06"),
        D("0.06"),
    ]
    assert [rates.plan_price("g", "db/large", p) for p in (0, 1, 2)] == [
        D("0.01"),
        D("0.01"),
        D("0.02"),
    ]
    assert [rates.plan_price("guid-9", None, p) for p in (0, 2)] == [D("0.01"), D("0.5")]
    assert rates.plan_price("g", "db/small") == D("0.06")  # no period: the last


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        ([{"db/small": D(1)}], "service_plans.periods[1]: from must be a date"),
        ([{"from": NOON, "db/small": D(-1)}], "service_plans.periods[1].db/small: -1 is negative"),
        ([{"from": NOON}, {"from": NOON}], "from must be later than the period before"),
        ({"from": NOON}, "service_plans.periods must be an array of tables"),
    ],
)
def test_bad_service_periods_are_usage_errors(periods, message):
    with pytest.raises(UsageError) as caught:
        parse_rates({"currency": "EUR", "service_plans": {"periods": periods}}, source="r.toml")
    assert message in str(caught.value)
