"""The `ecom` command: tokens, migrations, workers, jobs and dead-letter queues.

ecom token --role ops --sub alice [--shop-id S1] [--ttl-hours 12]
ecom migrate [SERVICE ...]            (all six when none is named)
ecom worker SERVICE                   consumers + outbox relay + scheduled jobs
ecom job SERVICE NAME                 run one scheduled job now (with its lease)
ecom analytics rebuild                every analytics rollup recomputed from its facts
ecom dlq list QUEUE [--limit N]       e.g. ecom dlq list inventory.events
ecom dlq replay QUEUE [--limit N]     move dead letters back to QUEUE for another try
ecom carrier-webhook --carrier ZTO --tracking-no T1 --status delivered [--event-id E] [--location L]
                     [--reason R] [--occurred-at T] | --body JSON|-   sign a carrier report, POST it
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta

from .config import SERVICES, Config, load_jwt_secret


def _token(args: argparse.Namespace) -> int:
    from .auth import ROLES, issue_token, staff_without_shop

    for role in args.role:
        if role not in ROLES:
            print(f"unknown role {role!r}; roles: {', '.join(ROLES)}", file=sys.stderr)
            return 2
    shopless = staff_without_shop(args.role, args.shop_id)
    if shopless:
        # Such a token would see nothing (CONTRACTS.md, Auth): refuse rather than mint a useless one.
        print(f"merchant staff role(s) {', '.join(shopless)} need --shop-id", file=sys.stderr)
        return 2
    print(
        issue_token(load_jwt_secret(), args.sub, args.role, shop_id=args.shop_id, ttl=timedelta(hours=args.ttl_hours))
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from .service import load

    unknown = set(args.services) - set(SERVICES)
    if unknown:
        print(f"unknown service(s) {sorted(unknown)}; services: {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    for name in args.services or SERVICES:
        load(name).migrate()
        print(f"{name}: migrated to head")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from .service import load

    return load(args.service).create_worker().run_forever()


def _job(args: argparse.Namespace) -> int:
    from .db import Database
    from .jobs import run_once
    from .observability import configure_logging
    from .service import load

    service = load(args.service)
    configure_logging(args.service)
    count = run_once(Database(Config.from_env(args.service)), service.job(args.name))
    if count is None:
        print(f"{args.name}: another process holds the lease; not run")
        return 1
    print(f"{args.name}: acted on {count}")
    return 0


def _command(args: argparse.Namespace) -> int:
    """`ecom <service> <command>`: a maintenance command the service declares (`ServiceDef.commands`),
    e.g. `ecom analytics rebuild`."""
    from .db import Database
    from .service import load

    service = load(args.service)
    db = Database(Config.from_env(args.service))
    try:
        print(service.commands[args.action](db))
    finally:
        db.dispose()
    return 0


def _config_for_queue(queue: str) -> Config:
    service = queue.split(".", 1)[0]
    return Config.from_env(service if service in SERVICES else "orders")


def _dlq(args: argparse.Namespace) -> int:
    from . import dlq

    config = _config_for_queue(args.queue)
    if args.action == "list":
        items = dlq.list_dead_letters(config, args.queue, limit=args.limit)
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
        print(f"{len(items)} message(s) in {args.queue}.dlq", file=sys.stderr)
        return 0
    moved = dlq.replay(config, args.queue, limit=args.limit)
    print(f"replayed {moved} message(s) from {args.queue}.dlq to {args.queue}")
    return 0


def _carrier_report(args: argparse.Namespace) -> bytes:
    if args.body is not None:
        return (sys.stdin.read() if args.body == "-" else args.body).encode()
    report = {
        "event_id": args.event_id or f"cli-{uuid.uuid4().hex}",
        "carrier": args.carrier,
        "tracking_no": args.tracking_no,
        "status": args.status,
        "location": args.location,
        "reason": args.reason,
        "occurred_at": args.occurred_at,
    }
    return json.dumps({k: v for k, v in report.items() if v is not None}, ensure_ascii=False).encode()


def _carrier_webhook(args: argparse.Namespace) -> int:
    """A carrier's progress report, signed with the secret logistics is configured with (the same
    setting, the same HMAC), POSTed to logistics' webhook: a test delivery without a carrier."""
    import requests

    from logistics import domain
    from logistics.settings import Settings

    missing = [
        flag
        for flag, value in (("--carrier", args.carrier), ("--tracking-no", args.tracking_no), ("--status", args.status))
        if not value
    ]
    if args.body is None and missing:
        print(f"carrier-webhook: give --body, or {', '.join(missing)}", file=sys.stderr)
        return 2
    config = Config.from_env("logistics")
    secret = Settings.from_config(config).carrier_webhook_secret
    if not secret:
        print(
            "LOGISTICS_CARRIER_WEBHOOK_SECRET is not set (it is generated into var/ only on the embedded "
            "default, without BROKER_URL): set it as logistics has it",
            file=sys.stderr,
        )
        return 2
    body = _carrier_report(args)
    url = args.url or config.peers["logistics"].rstrip("/") + "/api/v1/tracking/webhook"
    try:
        resp = requests.post(
            url,
            data=body,
            timeout=30,
            headers={"Content-Type": "application/json", domain.SIGNATURE_HEADER: domain.sign(secret, body)},
        )
    except requests.RequestException as exc:
        print(f"cannot reach logistics at {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{resp.status_code} {resp.text.strip()}")
    return 0 if resp.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecom", description="Operate the ecom platform.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="print a JWT for the configured secret")
    p.add_argument("--role", action="append", required=True, help="repeat for several roles")
    p.add_argument("--sub", required=True)
    p.add_argument("--shop-id", default=None)
    p.add_argument("--ttl-hours", type=float, default=12)
    p.set_defaults(func=_token)

    p = sub.add_parser("migrate", help="apply schema migrations")
    p.add_argument("services", nargs="*", help=f"any of {', '.join(SERVICES)}; all when none")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("worker", help="run a service's consumers, relay and jobs")
    p.add_argument("service", choices=SERVICES)
    p.set_defaults(func=_worker)

    p = sub.add_parser("job", help="run one scheduled job now")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("name")
    p.set_defaults(func=_job)

    p = sub.add_parser("analytics", help="analytics maintenance: rebuild the rollups from the facts")
    p.add_argument("action", choices=["rebuild"])
    p.set_defaults(func=_command, service="analytics")

    p = sub.add_parser("dlq", help="inspect or re-drive a dead-letter queue")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("queue", help="the work queue, e.g. inventory.events")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=_dlq)

    p = sub.add_parser("carrier-webhook", help="sign a carrier report and POST it to logistics (test deliveries)")
    p.add_argument("--carrier", help="carrier code of the shipment, e.g. ZTO")
    p.add_argument("--tracking-no")
    p.add_argument("--status", help="in_transit | out_for_delivery | delivered | exception (needs --reason)")
    p.add_argument("--event-id", help="the carrier's event id (default: a new one)")
    p.add_argument("--location")
    p.add_argument("--reason")
    p.add_argument("--occurred-at", help="ISO-8601 time of the event")
    p.add_argument("--body", help="a whole report body instead of the fields above ('-': read stdin)")
    p.add_argument("--url", help="default: LOGISTICS_URL + /api/v1/tracking/webhook")
    p.set_defaults(func=_carrier_webhook)

    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
