"""Prices for a report (``--rates FILE``): a TOML file read into a typed, checked :class:`Rates`.

```toml
currency = "EUR"

[app]                      # per GiB of memory per hour, and per app instance per hour
memory_gb_hour = 0.0125
instance_hour = 0.002      # optional (default 0)
[[app.periods]]            # from this instant on (UTC), these prices replace the ones before
from = 2026-11-15T12:00:00Z
memory_gb_hour = 0.0150    # a price a period leaves out keeps its value from before

[task]
memory_gb_hour = 0.02

[service_plans]            # per service-instance-hour: "offering/plan" names or a plan guid
"p-mysql/small" = 0.05
"default" = 0.01           # optional: the price of any plan not listed
[[service_plans.periods]]  # from this instant on, the plans it lists cost this
from = 2026-11-20
"p-mysql/small" = 0.06

[orgs]                     # optional: a multiplier per org name or guid (0.9 = 10 % discount)
"acme" = 0.9
```

Money is :class:`~decimal.Decimal` from the file's text (TOML floats are read as decimals,
never binary floats). A cost is computed exactly and rounded once per printed cell to the
currency's cents (0.01) with ``ROUND_HALF_EVEN`` (banker's rounding); a row's ``cost`` is the
sum of its rounded cost columns and a TOTAL is the sum of the printed rows.

Pure: no I/O but :func:`load_rates` reading the one file. Bad files raise :class:`UsageError`.
"""

from __future__ import annotations

import bisect
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from cfevents.errors import UsageError

CENT = Decimal("0.01")
ROUNDING = ROUND_HALF_EVEN
#: Enough digits that no intermediate figure is ever rounded (seconds x prices fit easily).
EXACT = Context(prec=60, rounding=ROUNDING)
MB_SECONDS_PER_GB_HOUR = 1024 * 3600
SECONDS_PER_HOUR = 3600
DEFAULT_PLAN = "default"

_TOP = {"currency", "app", "task", "service_plans", "orgs"}
_PRICES = {"memory_gb_hour", "instance_hour"}


@dataclass(frozen=True)
class Price:
    """The prices from ``start`` (epoch seconds; None: from the beginning of time) on."""

    start: int | None
    memory_gb_hour: Decimal = Decimal(0)
    instance_hour: Decimal = Decimal(0)


@dataclass(frozen=True)
class Schedule:
    """Prices over time: ``periods[0]`` starts at None, later ones at increasing instants."""

    periods: tuple[Price, ...] = (Price(None),)

    @property
    def changes(self) -> tuple[int, ...]:
        """The instants a price changes (where the accounting must split seconds)."""
        return tuple(p.start for p in self.periods if p.start is not None)

    def at(self, moment: int) -> Price:
        """The price in force at ``moment`` (epoch seconds)."""
        return self.periods[bisect.bisect_right(self.changes, moment)]


@dataclass(frozen=True)
class Rates:
    """A checked rates file. ``source`` names it in summaries."""

    currency: str
    app: Schedule = field(default_factory=Schedule)
    task: Schedule = field(default_factory=Schedule)
    service_plans: Mapping[str, Decimal] = field(default_factory=dict)
    service_default: Decimal | None = None
    # [[service_plans.periods]]: from an instant on, the prices (and default) it lists
    service_periods: tuple[tuple[int, Mapping[str, Decimal]], ...] = ()
    orgs: Mapping[str, Decimal] = field(default_factory=dict)
    source: str = ""

    def cuts(self) -> tuple[int, ...]:
        """Every instant an app or task price changes, sorted: the accounting splits its
        seconds there, and period ``i`` of the figures it returns is ``[cuts[i-1], cuts[i])``."""
        return tuple(sorted(set(self.app.changes) | set(self.task.changes)))

    def service_cuts(self) -> tuple[int, ...]:
        """The instants a service plan price changes (period ``i`` as for :meth:`cuts`)."""
        return tuple(start for start, _prices in self.service_periods)

    def multiplier(self, org_guid: str | None, org_name: str | None) -> Decimal:
        """The org's multiplier (by guid, then by name), 1 when it has none."""
        for key in (org_guid, org_name):
            if key and key in self.orgs:
                return self.orgs[key]
        return Decimal(1)

    def plan_price(
        self, plan_guid: str | None, label: str | None, period: int | None = None
    ) -> Decimal | None:
        """The price per service-instance-hour of a plan (by guid, then "offering/plan"),
        else the default; None when neither is given. ``period``: an index of
        :meth:`service_cuts` (the latest period at or before it that prices the plan wins;
        None: the last period)."""
        last = len(self.service_periods) if period is None else period
        layers = [self.service_plans, *(p for _s, p in self.service_periods[:last])]
        for key in (plan_guid, label, DEFAULT_PLAN):
            for layer in reversed(layers):
                if key and key in layer:
                    return layer[key]
        return None


def cents(amount: Decimal) -> Decimal:
    """The one rounding: to 0.01 (of the currency), half to even."""
    return amount.quantize(CENT, rounding=ROUNDING, context=EXACT)


def app_cost(rates: Rates, periods: Mapping[int, tuple[int, int]], multiplier: Decimal) -> Decimal:
    """Apps: ``periods`` maps a period index (of :meth:`Rates.cuts`) to (instance-seconds,
    MB-seconds); the cost exactly, then rounded once."""
    return _cost(rates.app, rates.cuts(), periods, multiplier)


def task_cost(rates: Rates, periods: Mapping[int, tuple[int, int]], multiplier: Decimal) -> Decimal:
    """Tasks: ``periods`` maps a period index to (task-seconds, task MB-seconds)."""
    return _cost(rates.task, rates.cuts(), periods, multiplier)


def _cost(
    schedule: Schedule,
    cuts: Sequence[int],
    periods: Mapping[int, tuple[int, int]],
    multiplier: Decimal,
) -> Decimal:
    with localcontext(EXACT):
        total = Decimal(0)
        for index, (seconds, mb_seconds) in periods.items():
            price = schedule.at(cuts[index - 1]) if index > 0 else schedule.periods[0]
            total += Decimal(seconds) * price.instance_hour / SECONDS_PER_HOUR
            total += Decimal(mb_seconds) * price.memory_gb_hour / MB_SECONDS_PER_GB_HOUR
        return cents(total * multiplier)


def services_cost(priced: Iterable[tuple[Decimal, int]], multiplier: Decimal) -> Decimal:
    """Service-instance-seconds at prices per hour ((price, seconds) per plan), summed
    exactly, then rounded once."""
    with localcontext(EXACT):
        total = sum((Decimal(seconds) * price for price, seconds in priced), Decimal(0))
        return cents(total / SECONDS_PER_HOUR * multiplier)


def as_rates(rates: str | os.PathLike[str] | Rates | None) -> Rates | None:
    """A :class:`Rates`, a rates file to read, or None (no prices)."""
    if rates is None or isinstance(rates, Rates):
        return rates
    return load_rates(rates)


def load_rates(path: str | os.PathLike[str]) -> Rates:
    """Read and check a rates file (one :class:`UsageError` line for anything wrong)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = tomllib.load(handle, parse_float=Decimal)
    except OSError as exc:
        raise UsageError(f"--rates {name}: cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--rates {name}: not valid TOML: {exc}") from None
    return parse_rates(data, source=name)


def parse_rates(data: Mapping[str, Any], *, source: str = "rates") -> Rates:
    """Check a decoded rates document: unknown keys, negative or non-numeric prices, periods
    out of order and a missing currency are :class:`UsageError`."""
    where = f"--rates {source}"
    _known(data, _TOP, where)
    currency = data.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise UsageError(f'{where}: currency: give the currency of the prices (e.g. "EUR")')
    plans = dict(_table(data, "service_plans", where))
    periods = _service_periods(plans.pop("periods", []), where)
    prices = {str(k): _money(v, f"{where}: service_plans.{k}") for k, v in plans.items()}
    default = prices.get(DEFAULT_PLAN)
    orgs = _table(data, "orgs", where)
    return Rates(
        currency=currency.strip(),
        app=_schedule(data, "app", where),
        task=_schedule(data, "task", where),
        service_plans=prices,
        service_default=default,
        service_periods=periods,
        orgs={str(k): _money(v, f"{where}: orgs.{k}") for k, v in orgs.items()},
        source=source,
    )


def _known(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise UsageError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{where}: {key} must be a table ([{key}])")
    return value


def _money(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise UsageError(f"{where}: {value!r} is not a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise UsageError(f"{where}: {value!r} is not a number") from None
    if not amount.is_finite():
        raise UsageError(f"{where}: {value!r} is not a number")
    if amount < 0:
        raise UsageError(f"{where}: {value} is negative")
    return amount


def _schedule(data: Mapping[str, Any], kind: str, where: str) -> Schedule:
    table = _table(data, kind, where)
    _known(table, _PRICES | {"periods"}, f"{where}: [{kind}]")
    base = Price(
        None, **{k: _money(table[k], f"{where}: {kind}.{k}") for k in _PRICES & set(table)}
    )
    periods = [base]
    raw = table.get("periods", [])
    if not isinstance(raw, list):
        raise UsageError(f"{where}: {kind}.periods must be an array of tables ([[{kind}.periods]])")
    for number, item in enumerate(raw, 1):
        at = f"{where}: {kind}.periods[{number}]"
        if not isinstance(item, dict):
            raise UsageError(f"{at}: must be a table")
        _known(item, _PRICES | {"from"}, at)
        start = _instant(item.get("from"), at)
        if periods[-1].start is not None and start <= periods[-1].start:
            raise UsageError(f"{at}: from must be later than the period before")
        values = {k: getattr(periods[-1], k) for k in _PRICES}
        values.update({k: _money(item[k], f"{at}.{k}") for k in _PRICES & set(item)})
        periods.append(Price(start, **values))
    return Schedule(tuple(periods))


def _service_periods(raw: Any, where: str) -> tuple[tuple[int, dict[str, Decimal]], ...]:
    at = f"{where}: service_plans.periods"
    if not isinstance(raw, list):
        raise UsageError(f"{at} must be an array of tables ([[service_plans.periods]])")
    out: list[tuple[int, dict[str, Decimal]]] = []
    for number, item in enumerate(raw, 1):
        here = f"{at}[{number}]"
        if not isinstance(item, dict):
            raise UsageError(f"{here}: must be a table")
        start = _instant(item.get("from"), here)
        if out and start <= out[-1][0]:
            raise UsageError(f"{here}: from must be later than the period before")
        prices = {str(k): _money(v, f"{here}.{k}") for k, v in item.items() if k != "from"}
        out.append((start, prices))
    return tuple(out)


def _instant(value: Any, where: str) -> int:
    """A TOML date or offset date-time (UTC when it has no offset) -> epoch seconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if moment.microsecond:
            raise UsageError(f"{where}: from must be a whole second")
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    raise UsageError(f"{where}: from must be a date or date-time (from = 2026-11-15T12:00:00Z)")
