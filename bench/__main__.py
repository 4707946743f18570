"""`make bench` / `python -m bench [names...] [--quick] [--runs N]`.

Runs each benchmark, prints its table and writes bench/results/<name>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from . import (
    analytics,
    common,
    console,
    consumer_inbox,
    hot_sku,
    http_rps,
    outbox_relay,
    quote_cpu,
    raw_loop,
    reserve_cpu,
    round_trips,
    saga,
)

BENCHMARKS = {
    m.NAME: m
    for m in (
        raw_loop,
        outbox_relay,
        consumer_inbox,
        reserve_cpu,
        quote_cpu,
        http_rps,
        hot_sku,
        saga,
        round_trips,
        analytics,
        console,
    )
}

# Full sizes (`make bench`) and the small ones used while developing (`--quick`).
FULL = dict(runs=3, messages=2000, requests=2000, concurrency=8, levels="200,1000,2000", workers=2)
QUICK = dict(runs=3, messages=300, requests=300, concurrency=4, levels="200", workers=1)


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHMARKS)} (all when none)")
    p.add_argument("--quick", action="store_true", help="small sizes, for trying the benchmarks out")
    p.add_argument("--runs", type=int, help="repetitions of each measurement (at least 3 for the spread)")
    p.add_argument("--messages", type=int, help="messages per run (raw loop, relay, consumer)")
    p.add_argument("--requests", type=int, help="HTTP requests per endpoint per run")
    p.add_argument("--concurrency", type=int, help="HTTP client threads")
    p.add_argument("--levels", help="hot SKU: concurrent buyers per level, comma separated")
    p.add_argument("--workers", type=int, help="hot SKU: inventory worker processes")
    p.add_argument(
        "--profile",
        action="store_true",
        help=(
            "outbox relay, consumer: pyinstrument profile; reserve_cpu: cProfile; "
            "saga, hot_sku, http_rps (POST /orders): py-spy of the service processes"
        ),
    )
    p.add_argument(
        "--orders",
        type=int,
        help=(
            "saga: orders per closed-loop run (300; --quick 40); round_trips: orders per run (30; --quick 10); "
            "analytics: orders in all (200,000; --quick 3,000)"
        ),
    )
    p.add_argument("--rate-orders", type=int, help="saga: orders of the run at 50 orders/s (250; --quick 100)")
    p.add_argument("--clients", type=int, help="saga: client threads placing and paying (8; --quick 4)")
    p.add_argument("--reactors", type=int, help="saga: threads doing dispatch, carrier webhook, confirm (8)")
    p.add_argument(
        "--saga-env",
        action="append",
        metavar="NAME=VALUE",
        help="saga (and POST /orders in http_rps): a setting for every service process, repeatable",
    )
    args = p.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        p.error(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    names = args.names or list(BENCHMARKS)
    machine = common.machine()
    print(
        f"machine: {machine['cpu_count']} CPUs, Python {machine['python']}, "
        f"RabbitMQ {machine['versions'].get('rabbitmq')}, PostgreSQL {machine['versions'].get('postgresql')}, "
        f"load {machine['load_average_at_start'][0]:.2f}"
    )
    failed = []
    for name in names:
        module = BENCHMARKS[name]
        started = time.perf_counter()
        bar = common.progress(module.steps(args), name)
        try:
            result = module.run(args, bar)
        except common.NotBuilt as reason:
            bar.close()
            print(f"\n== {name}: not built yet: {reason}")
            continue
        except Exception:
            bar.close()
            traceback.print_exc()
            failed.append(name)
            continue
        bar.close()
        elapsed = time.perf_counter() - started
        runs = result.get("runs", [])
        summary = common.summarize(runs)
        payload = {
            "description": (module.__doc__ or "").strip(),
            "machine": machine,
            "settings": result.get("settings", {}),
            "status": result.get("status", "measured"),
            "notes": result.get("notes", []),
            "summary": summary,
            "runs": runs,
            "elapsed_s": elapsed,
        }
        for key in ("levels", "targets", "profile", "statements"):
            if key in result:
                payload[key] = result[key]
        path = common.write_result(name, payload)
        # A row names a figure of the runs, or carries its own spread (hot SKU: one per level).
        rows = [
            (label, key if isinstance(key, (dict, common.Text)) else summary.get(key, common.spread([])))
            for label, key in result.get("rows", [])
        ]
        if result.get("status") not in (None, "measured"):
            rows.append(("status", common.Text(result["status"])))
        print(common.table(f"{name}  ({elapsed:.0f}s, {args.runs} runs)", rows))
        for note in payload["notes"]:
            print(f"  note: {note}")
        print(f"  -> {path.relative_to(common.REPO)}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
