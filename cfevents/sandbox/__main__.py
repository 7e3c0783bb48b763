"""`python -m cfevents.sandbox`: serve a simulated Cloud Controller until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from cfevents.sandbox.faults import FAULT_KINDS, FaultConfig
from cfevents.sandbox.live import RATE, LiveConfig, default_state_dir, start_live, stop_live
from cfevents.sandbox.server import Sandbox, SandboxConfig


def _end(text: str) -> datetime | None:
    if text == "now":
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError("use 'now' or YYYY-MM-DDThh:mm:ssZ") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m cfevents.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--end", type=_end, default=None, help="now (default) or YYYY-MM-DDThh:mm:ssZ"
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--usage-events", type=int, default=None, help="exact count (default: a natural month)"
    )
    parser.add_argument(
        "--v2-disabled", action="store_true", help="answer /v2/* like nginx does when v2 is off"
    )
    parser.add_argument("--external-url", default=None, help="URL to advertise in links (a proxy)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay of every list response"
    )
    parser.add_argument(
        "--latency-per-event-ms", type=float, default=0.0, help="extra delay per listed event"
    )
    parser.add_argument(
        "--token-ttl", type=int, default=3600, help="access token lifetime in seconds"
    )
    parser.add_argument(
        "--latency-per-skipped-row-ms",
        type=float,
        default=0.0,
        help="extra delay per row an OFFSET skips",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="CC rate limit per user per hour (admins exempt)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="probability that an API request fails (502, 503, 429, dropped, slow)",
    )
    parser.add_argument(
        "--fault-kinds",
        default=",".join(FAULT_KINDS),
        help=f"comma list of {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument("--fault-seed", type=int, default=0)
    _add_live_arguments(parser)
    return parser.parse_args(argv)


def _add_live_arguments(parser: argparse.ArgumentParser) -> None:
    live = parser.add_argument_group(
        "live foundation",
        "--live: a stable address and state directory, and a foundation that keeps moving with "
        "the wall clock (see cfevents/sandbox/live.py); restarts continue it",
    )
    live.add_argument("--live", action="store_true", help="run the live foundation")
    live.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="its state (default $CFEVENTS_SANDBOX_DIR or ~/.local/state/cfevents/sandbox)",
    )
    live.add_argument(
        "--rate", type=float, default=RATE, help="app and service actions per simulated hour"
    )
    live.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated hours per wall hour (0: only POST /sandbox/live/advance moves it)",
    )
    live.add_argument(
        "--retention-days",
        type=int,
        default=31,
        help="CC's daily cleanup of usage and audit events (0: never)",
    )
    live.add_argument(
        "--keep-running",
        action="store_true",
        help="the cleanup keeps the events of what still runs (cloud_controller_ng #5210)",
    )
    parser.add_argument(
        "--expire-token-every",
        type=int,
        default=0,
        help="every Nth authenticated request finds its token expired (401)",
    )


def main(argv: list[str] | None = None) -> int:
    """Build the sandbox, print how to use it, serve until interrupted."""
    args = parse_args(argv)
    if args.live:
        return run_live(args)
    config = SandboxConfig(
        seed=args.seed,
        end=args.end,
        days=args.days,
        usage_events=args.usage_events,
        v2_enabled=not args.v2_disabled,
        external_url=args.external_url,
        latency_ms=args.latency_ms,
        latency_per_event_ms=args.latency_per_event_ms,
        token_ttl=args.token_ttl,
        latency_per_skipped_row_ms=args.latency_per_skipped_row_ms,
        rate_limit=args.rate_limit,
        faults=FaultConfig(
            rate=args.fault_rate,
            kinds=tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()),
            seed=args.fault_seed,
            expire_token_every=args.expire_token_every,
        ),
    )
    try:  # Ctrl-C at any point (even while generating) exits quietly
        sandbox = Sandbox(config).start(args.host, args.port)
        try:
            print_usage(sandbox)
            threading.Event().wait()
        finally:
            sandbox.stop()
    except KeyboardInterrupt:
        pass
    return 0


def run_live(args: argparse.Namespace) -> int:
    """`--live`: open (or continue) the live foundation, serve it until interrupted."""
    config = LiveConfig(
        state_dir=args.state_dir or default_state_dir(),
        seed=args.seed,
        days=args.days,
        rate=args.rate,
        speed=args.speed,
        retention_days=args.retention_days or None,
        keep_running=args.keep_running,
        host=args.host,
        port=args.port,
        external_url=args.external_url,
    )
    try:
        live = start_live(config)
        try:
            print(f"live foundation in {config.state_dir} ({live.steps} steps replayed)")
            print_usage(live.sandbox)
            threading.Event().wait()
        finally:
            stop_live(live)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"cfevents sandbox: {exc}", file=sys.stderr)
        return 2  # e.g. the port is taken
    except (ValueError, KeyError) as exc:
        where = config.state_dir
        print(f"cfevents sandbox: the state in {where} cannot be read: {exc!r}", file=sys.stderr)
        return 2
    return 0


def print_usage(sandbox: Sandbox) -> None:
    """The URL, what was generated, an admin and a refresh token, and the export line."""
    f, config = sandbox.foundation, sandbox.config
    token = sandbox.admin_token()
    print(f"cfevents sandbox listening on {sandbox.url}")
    print(
        f"seed {config.seed}, {config.days} days to {f.end:%Y-%m-%dT%H:%M:%SZ}: {len(f.orgs)} orgs, "
        f"{len(f.spaces)} spaces, {len(f.apps)} apps, {f.usage_event_count():,} usage events, "
        f"{len(f.crashes())} crashes, {len(f.audit_events)} audit events"
    )
    print(f"admin token (valid {config.token_ttl} s):\n  {token}")
    print(
        f"refresh token (client 'cf', POST {sandbox.base_url}/oauth/token):\n  {sandbox.refresh_token()}"
    )
    print(f"\nexport CF_API={sandbox.url} CF_TOKEN='{token}'", flush=True)


if __name__ == "__main__":
    sys.exit(main())
