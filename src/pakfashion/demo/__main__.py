"""Command line: `python -m pakfashion.demo serve --port N`, `... run -- CMD` (serve while CMD runs) and `... labels`
(write the curate stage's ground truth for the demo world)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from pakfashion.demo.curation_cases import LABELS_FILE, write_labels
from pakfashion.demo.server import DemoServer
from pakfashion.demo.world import build_world

logger = logging.getLogger("pakfashion.demo")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(prog="python -m pakfashion.demo",
                                     description="Serve the synthetic demo retail world.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve every demo site until SIGINT/SIGTERM")
    serve.add_argument("--port", type=int, default=8765,
                       help="port shared by all sites (0 = pick a free one; default 8765)")
    serve.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    run = commands.add_parser("run", help="serve while CMD runs with PAKFASHION_DEMO_PORT set")
    run.add_argument("--port", type=int, default=8765,
                     help="port shared by all sites (0 = a free one; default 8765, the port the demo "
                          "site configs fall back to, so demo URLs are the same in every run)")
    run.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    run.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --, e.g. -- dvc repro")
    labels = commands.add_parser("labels", help="write the problem images' ground truth (url_path,reason)")
    labels.add_argument("--out", type=Path, default=LABELS_FILE, help=f"CSV to write (default {LABELS_FILE})")
    labels.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    labels.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def run_with_store(cmd: list[str], *, port: int, seed: int) -> int:
    """Run ``cmd`` while the demo store serves; the sites' configs read the port from the environment."""
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise SystemExit("run needs a command after --, e.g. `python -m pakfashion.demo run -- dvc repro`")
    with DemoServer(build_world(seed, platform_demos=True), port=port) as server:
        env = {**os.environ, "PAKFASHION_DEMO_PORT": str(server.port)}
        logger.warning("demo store on port %d; running %s", server.port, " ".join(cmd))
        return subprocess.run(cmd, env=env, check=False).returncode


def serve(port: int, seed: int) -> None:
    """Serve the world until SIGINT or SIGTERM, printing one "name URL" line per site."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with DemoServer(build_world(seed, platform_demos=True), port=port) as server:
        for name, url in server.base_urls().items():
            print(f"{name} {url}", flush=True)
        stop.wait()
        logger.info("stopping demo server")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        return run_with_store(args.cmd, port=args.port, seed=args.seed)
    if args.command == "labels":
        count = write_labels(build_world(args.seed), args.out)
        logger.info("wrote %d problem-image labels to %s", count, args.out)
        return 0
    serve(args.port, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
