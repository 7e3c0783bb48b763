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


def service_truth(sb) -> dict[str, Fraction]:
    """Per org: each instance's seconds per plan x its price (an instance whose plan no event
    says before its first UPDATED is billed at the default for that time)."""
    orgs = {g: u.org_guid for g, u in sb.service_truth(MONTH.start, MONTH.end).items()}
    cost: dict[str, Fraction] = defaultdict(Fraction)
    for guid, plans in truth_for(sb, MONTH, False, first_updates(sb)).items():
        for plan, seconds in plans.items():
            price = PLAN_PRICE if plan == plan_of_choice(sb) else DEFAULT_PLAN
            cost[orgs[guid]] += Fraction(seconds, 3600) * price
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
