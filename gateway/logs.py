"""Logging set-up, shared by the CLI and by worker processes started by uvicorn."""

from __future__ import annotations

import logging
import os
import sys

LEVEL_ENV = "GATEWAY_LOG_LEVEL"


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger once per process (workers inherit the level through the environment)."""
    chosen = (level or os.environ.get(LEVEL_ENV) or "info").upper()
    os.environ[LEVEL_ENV] = chosen.lower()
    logging.basicConfig(
        level=getattr(logging, chosen, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # casbin logs the whole policy at INFO on every load; decisions are our audit's job.
    logging.getLogger("casbin").setLevel(logging.WARNING)
