"""Costs end to end over real HTTP against the sandbox, checked against the simulation's own
truth x the rates (exact fractions, rounded half-even to the cent here, independently of the
library): a whole month, a mid-month price change while processes and tasks run, a discount."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from cli_helpers import one_line_error
from conftest import Cli
from test_report_rates import half_even_cents
from test_report_services import first_updates, truth_for

from cfevents.report import Window
from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # the generated month starts 2026-01-30T12:31Z
MONTH = Window(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
APP_CHANGE = datetime(2026, 2, 14, 13, 27, 41, tzinfo=UTC)  # mid-month
APP_PRICES = [(Fraction("0.0125"), Fraction("0.002")), (Fraction("0.0175"), Fraction("0.003"))]
TASK_PRICES = [Fraction("0.02"), Fraction("0.045")]
DISCOUNT = Fraction("0.85")
DEFAULT_PLAN = Fraction("0.011")
PLAN_PRICE = Fraction("0.07")
SERVICE_CHANGE = datetime(2026, 2, 10, 10, 11, 12, tzinfo=UTC)  # instances exist across it
LATER_PLAN_PRICE, LATER_DEFAULT = Fraction("0.09"), Fraction("0.013")


@pytest.fixture(scope="module")
def month_sandbox():
    sb = Sandbox(SandboxConfig(seed=23, end=END)).start()
    yield sb
    sb.stop()


@pytest.fixture
def mcli(month_sandbox, tmp_path):
    return Cli(month_sandbox, tmp_path)


def rates_file(tmp_path, discounted_org: str, plan_guid: str, task_change: datetime = END) -> str:
    path = tmp_path / "rates.toml"
    path.write_text(
        'currency = "EUR"\n'
        "[app]\nmemory_gb_hour = 0.0125\ninstance_hour = 0.002\n"
        f"[[app.periods]]\nfrom = {APP_CHANGE:%Y-%m-%dT%H:%M:%SZ}\n"
        "memory_gb_hour = 0.0175\ninstance_hour = 0.003\n"
        "[task]\nmemory_gb_hour = 0.02\n"
        f"[[task.periods]]\nfrom = {task_change:%Y-%m-%d %H:%M:%S}\nmemory_gb_hour = 0.045\n"
        f'[service_plans]\n"{plan_guid}" = 0.07\ndefault = 0.011\n'
        f"[[service_plans.periods]]\nfrom = {SERVICE_CHANGE:%Y-%m-%dT%H:%M:%SZ}\n"
        f'"{plan_guid}" = 0.09\ndefault = 0.013\n'
        f'[orgs]\n"{discounted_org}" = 0.85\n'
    )
    return str(path)


def app_truth(sb) -> dict[str, Fraction]:
    """Per org guid: the exact app cost of the month (processes, per price period)."""
    cost: dict[str, Fraction] = defaultdict(Fraction)
    spans = [(MONTH.start, APP_CHANGE), (APP_CHANGE, MONTH.end)]
    for (lo, hi), (gb_hour, instance_hour) in zip(spans, APP_PRICES, strict=True):
        for usage in sb.usage_truth(lo, hi).values():
            cost[usage.org_guid] += (
                Fraction(usage.memory_mb_seconds, 1024 * 3600) * gb_hour
                + Fraction(usage.instance_seconds, 3600) * instance_hour
            )
    return cost


def task_truth(sb, change: datetime) -> dict[str, Fraction]:
    cost: dict[str, Fraction] = defaultdict(Fraction)
    spans = [(MONTH.start, change), (change, MONTH.end)]
    for (lo, hi), gb_hour in zip(spans, TASK_PRICES, strict=True):
        for task in sb.task_truth(lo, hi).values():
            cost[task.org_guid] += Fraction(task.memory_mb_seconds, 1024 * 3600) * gb_hour
    return cost


def service_lines(sb) -> dict[tuple[str, str, str | None], Fraction]:
    """Per (org, space, plan): each instance's seconds per plan x its price on each side of
    the service price change (an instance whose plan no event says before its first UPDATED is
    billed at the default for that time)."""
    where = sb.service_truth(MONTH.start, MONTH.end)
    chosen, updates = plan_of_choice(sb), first_updates(sb)
    cost: dict[tuple[str, str, str | None], Fraction] = defaultdict(Fraction)
    spans = [
        (Window(MONTH.start, SERVICE_CHANGE), PLAN_PRICE, DEFAULT_PLAN),
        (Window(SERVICE_CHANGE, MONTH.end), LATER_PLAN_PRICE, LATER_DEFAULT),
    ]
    for span, plan_price, default in spans:
        for guid, plans in truth_for(sb, span, False, updates).items():
            for plan, seconds in plans.items():
                price = plan_price if plan == chosen else default
                key = (where[guid].org_guid, where[guid].space_guid, plan)
                cost[key] += Fraction(seconds, 3600) * price
    return cost


def service_truth(sb) -> dict[str, Fraction]:
    """Per org: the exact service cost of the month."""
    cost: dict[str, Fraction] = defaultdict(Fraction)
    for (org, _space, _plan), amount in service_lines(sb).items():
        cost[org] += amount
    return cost


def plan_of_choice(sb) -> str:
    """The plan priced on its own: the one with the most instance-seconds in the month."""
    seconds: dict[str, int] = defaultdict(int)
    for usage in sb.service_truth(MONTH.start, MONTH.end).values():
        for plan, n in usage.seconds.items():
            if plan:
                seconds[plan] += n
    return max(seconds, key=lambda p: seconds[p])


def money(rows, key="cost"):
    return {r["org_guid"]: Decimal(str(r[key])) for r in rows}


def test_a_month_priced_by_org_equals_the_truth_times_the_rates(mcli, month_sandbox, tmp_path):
    sb = month_sandbox
    task_change = middle_of_a_task(sb)
    # processes run across the app price change (the split is exercised)
    around = (APP_CHANGE - timedelta(seconds=1), APP_CHANGE + timedelta(seconds=1))
    assert any(u.running_seconds == 2 for u in sb.usage_truth(*around).values())
    apps, tasks = app_truth(sb), task_truth(sb, task_change)
    discounted = sorted(apps)[0]
    rates = rates_file(tmp_path, discounted, plan_of_choice(sb), task_change)
    args = ("usage", "report", "--month", "2026-02", "--by", "org", "--rates", rates)
    result = mcli(*args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout, parse_float=Decimal)
    factor = {org: (DISCOUNT if org == discounted else Fraction(1)) for org in apps}
    want_apps = {org: half_even_cents(c * factor[org]) for org, c in apps.items()}
    want_tasks = {org: half_even_cents(tasks.get(org, Fraction(0)) * factor[org]) for org in apps}
    assert money(rows, "app_cost") == want_apps
    assert money(rows, "task_cost") == want_tasks
    assert money(rows) == {org: want_apps[org] + want_tasks[org] for org in apps}
    assert all(r["currency"] == "EUR" for r in rows)
    assert f"prices: {rates} (EUR)" in result.stderr
    # the table: money in its currency, TOTAL = the sum of the printed rows to the cent
    table = mcli(*args)
    assert table.exit_code == 0, table.stderr
    lines = [re.split(r"\s{2,}", line.strip()) for line in table.stdout.splitlines()]
    at = lines[0].index("cost (EUR)")
    printed = [Decimal(cells[at].replace(",", "")) for cells in lines[2:]]
    assert lines[-1][0] == "TOTAL"
    assert printed[-1] == sum(printed[:-1]) == sum(money(rows).values())


def middle_of_a_task(sb) -> datetime:
    """A task price change in the middle of a task that runs for minutes in the month."""
    for task in sorted(sb.task_truth(MONTH.start, MONTH.end).values(), key=lambda t: t.started_at):
        if task.stopped_at and task.seconds >= 120 and task.started_at > MONTH.start:
            middle = task.started_at + (task.stopped_at - task.started_at) / 2
            return middle.replace(microsecond=0)
    raise AssertionError("no task ran for two minutes in the month")


def test_services_priced_by_org_equal_the_truth_times_the_rates(mcli, month_sandbox, tmp_path):
    sb = month_sandbox
    services = service_truth(sb)
    discounted = sorted(services)[0]
    rates = rates_file(tmp_path, discounted, plan_of_choice(sb))
    result = mcli(
        "services", "report", "--month", "2026-02", "--by", "org", "--rates", rates, "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout, parse_float=Decimal)
    want = {
        org: half_even_cents(c * (DISCOUNT if org == discounted else 1))
        for org, c in services.items()
    }
    assert money(rows) == want
    assert all(isinstance(r["flags"], list) for r in rows)


def test_a_used_plan_without_a_price_is_exit_2_and_an_unused_one_a_warning(mcli, tmp_path):
    path = tmp_path / "rates.toml"
    path.write_text('currency = "EUR"\n[service_plans]\n"nosuch/plan" = 1\n')
    result = mcli("services", "report", "--month", "2026-02", "--rates", str(path))
    assert result.exit_code == 2
    assert "no price for service plan(s)" in one_line_error(result)
    path.write_text('currency = "EUR"\n[service_plans]\n"nosuch/plan" = 1\ndefault = 0\n')
    result = mcli("services", "report", "--month", "2026-02", "--rates", str(path), "-o", "csv")
    assert result.exit_code == 0, result.stderr
    assert "'nosuch/plan' matches no plan billed in this window" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('currency = "EUR"\n[app]\nmemory_gb_hour = -1\n', "app.memory_gb_hour: -1 is negative"),
        ('currency = "EUR"\n[ap]\nmemory_gb_hour = 1\n', "unknown key 'ap'"),
    ],
)
def test_a_bad_rates_file_is_one_line_exit_2_before_any_request(
    mcli, month_sandbox, tmp_path, text, message
):
    path = tmp_path / "rates.toml"
    path.write_text(text)
    month_sandbox.clear_requests()
    result = mcli("usage", "report", "--month", "2026-02", "--rates", str(path))
    assert result.exit_code == 2
    assert message in one_line_error(result)
    assert not [r for r in month_sandbox.requests if "usage" in r.path]


def test_the_statement_per_org_equals_the_truth_line_by_line(mcli, month_sandbox, tmp_path):
    """Every app, task and service line is the truth x the rates (rounded once), every org's
    total the sum of its lines, the TOTAL the sum of the orgs: for the month, with a price
    change in the middle of running processes and a task, and a discount."""
    sb = month_sandbox
    task_change = middle_of_a_task(sb)
    plan = plan_of_choice(sb)
    discounted = sorted(app_truth(sb))[-1]
    factor = defaultdict(lambda: Fraction(1), {discounted: DISCOUNT})
    want: dict[tuple[str, str, str | None], Fraction] = defaultdict(Fraction)
    spans = [(MONTH.start, APP_CHANGE), (APP_CHANGE, MONTH.end)]
    for (lo, hi), (gb_hour, instance_hour) in zip(spans, APP_PRICES, strict=True):
        for u in sb.usage_truth(lo, hi).values():
            want[(u.org_guid, "app", u.app_guid)] += (
                Fraction(u.memory_mb_seconds, 1024 * 3600) * gb_hour
                + Fraction(u.instance_seconds, 3600) * instance_hour
            )
    spans = [(MONTH.start, task_change), (task_change, MONTH.end)]
    for (lo, hi), gb_hour in zip(spans, TASK_PRICES, strict=True):
        for t in sb.task_truth(lo, hi).values():
            want[(t.org_guid, "task", t.app_guid)] += (
                Fraction(t.memory_mb_seconds, 1024 * 3600) * gb_hour
            )
    for (org, space, p), amount in service_lines(sb).items():
        want[(org, "service", f"{space}:{p}")] += amount
    expected = {k: half_even_cents(v * factor[k[0]]) for k, v in want.items() if v}

    rates = rates_file(tmp_path, discounted, plan, task_change)
    result = mcli("chargeback", "--month", "2026-02", "--rates", rates, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout, parse_float=Decimal)
    got = {}
    org_totals = {}
    for r in rows:
        cost = Decimal(str(r["cost"]))
        if r["line"] == "total":
            org_totals[r["org_guid"]] = cost
            continue
        item = f"{r['space_guid']}:{r['item_guid']}" if r["line"] == "service" else r["item_guid"]
        got[(r["org_guid"], r["line"], item)] = cost
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    assert set(org_totals) == {k[0] for k in expected}
    for org, total in org_totals.items():
        assert total == sum(v for k, v in got.items() if k[0] == org)
    # every line is flat and typed; the org's total line follows its lines
    assert [r["line"] for r in rows].count("total") == len(org_totals)
    assert rows[-1]["line"] == "total"
    assert all(isinstance(r["seconds"], int) for r in rows if r["line"] != "total")
    assert "prices: " in result.stderr
    table = mcli("chargeback", "--month", "2026-02", "--rates", rates, "--per", "space")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[-1].startswith("TOTAL")
    lines = [re.split(r"\s{2,}", line.strip()) for line in table.stdout.splitlines()]
    assert Decimal(lines[-1][-1].replace(",", "")) == sum(org_totals.values())


def test_chargeback_needs_rates_and_a_known_per(mcli, month_sandbox, tmp_path):
    month_sandbox.clear_requests()
    result = mcli("chargeback", "--month", "2026-02")
    assert result.exit_code == 2
    assert "--rates" in one_line_error(result)
    path = tmp_path / "r.toml"
    path.write_text('currency = "EUR"\n')
    result = mcli("chargeback", "--month", "2026-02", "--rates", str(path), "--per", "app")
    assert result.exit_code == 2
    assert "--per must be one of org, space" in one_line_error(result)
    assert not month_sandbox.requests
