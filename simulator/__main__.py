"""``python -m simulator``: run the Seam simulator until interrupted.

Example::

    python -m simulator --host 127.0.0.1 --port 8765 --state var/seam-simulator.json --mode quick
"""

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from types import FrameType

from simulator.server import DEFAULT_API_KEY, SimulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--state", help="JSON file that keeps the codes across restarts (default: memory only)")
    parser.add_argument("--mode", choices=["quick", "realistic"], default="quick")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--webhook-url", help="where to POST signed webhooks (default: none sent)")
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("SEAM_WEBHOOK_SECRET") or None,
        help="whsec_... signing secret (default: $SEAM_WEBHOOK_SECRET)",
    )
    parser.add_argument("--setting-after", type=float, default=2.0, help="quick mode: seconds to 'setting'")
    parser.add_argument("--set-after", type=float, default=5.0, help="quick mode: seconds to 'set'")
    parser.add_argument("--program-lead", type=float, default=3600.0, help="realistic: seconds before starts_at")
    parser.add_argument("--setting-duration", type=float, default=90.0, help="realistic: seconds in 'setting'")
    parser.add_argument("--rate-limit", type=int, default=10, help="creates per door per window (default 10)")
    parser.add_argument(
        "--rate-limit-window", type=float, default=60.0, help="seconds of Seam's per-door create window (default 60)"
    )
    parser.add_argument("--bench-doors", type=int, default=0, help="extra doors 'Suite 1'..'Suite N' for benchmarks")
    parser.add_argument(
        "--refusals",
        choices=["http_400", "on_code"],
        default="http_400",
        help="how doors refuse a window no level matches or a code with no room: a 400 answer (default), "
        "or 200 and then an error on the code with a failed_to_set_on_device webhook",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="milliseconds every API call waits before it is applied"
    )
    parser.add_argument(
        "--latency-jitter-ms", type=float, default=0.0, help="up to this much more or less, uniformly (default 0)"
    )
    parser.add_argument("--fault-hold", type=float, default=30.0, help="timeout faults: longest hold, seconds")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or SEAM_WEBHOOK_SECRET)")
    try:
        server = SimulatorServer(
            host=args.host,
            port=args.port,
            mode=args.mode,
            api_key=args.api_key,
            state_path=args.state,
            setting_after=timedelta(seconds=args.setting_after),
            set_after=timedelta(seconds=args.set_after),
            program_lead=timedelta(seconds=args.program_lead),
            setting_duration=timedelta(seconds=args.setting_duration),
            fault_hold=timedelta(seconds=args.fault_hold),
            rate_limit=args.rate_limit,
            rate_limit_window=timedelta(seconds=args.rate_limit_window),
            bench_doors=args.bench_doors,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            refusals=args.refusals,
            latency=timedelta(milliseconds=args.latency_ms),
            latency_jitter=timedelta(milliseconds=args.latency_jitter_ms),
        )
        server.start()
    except (ValueError, OverflowError, OSError) as exc:
        parser.exit(1, f"Seam simulator: {exc}\n")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    sys.stdout.write(f"Seam simulator listening on {server.url}\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
