"""``python -m pakfashion.app [--repo .] [--host 127.0.0.1] [--port 7860]``: serve the app on the repo's outputs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
log = logging.getLogger("pakfashion.app")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pakfashion.app", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path("."), help="pakfashion checkout whose outputs to show")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--page-size", type=int, default=24, help="dataset images per page")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own readiness probes
    # Before gradio is imported: no telemetry or version check leaves the machine.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from pakfashion.app.settings import load_settings
    from pakfashion.app.ui import build_app, launch

    try:
        settings = load_settings(args.repo, page_size=args.page_size)
    except FileNotFoundError as err:
        log.error("%s", err)
        return 2
    app = build_app(settings)
    url = launch(app, settings, host=args.host, port=args.port, block=False)
    log.info("pakfashion app for %s ready at %s (started in %.1f s)", settings.repo, url, time.perf_counter() - STARTED)
    try:
        app.block_thread()
    except KeyboardInterrupt:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
