"""CLI commands of the reconstruction chapter. Each part's commands sit in a block of their own; ``COMMANDS`` joins
the blocks."""
from __future__ import annotations

import argparse  # noqa: F401
import json  # noqa: F401
import logging
from pathlib import Path  # noqa: F401

from sketch3d.cli import Command, arg, parse_settings  # noqa: F401

log = logging.getLogger("sketch3d")


# ----------------------------------------------------------------------------- block A



_A_COMMANDS: tuple = ()


# ----------------------------------------------------------------------------- block B



_B_COMMANDS: tuple = ()


# ----------------------------------------------------------------------------- block C



_C_COMMANDS: tuple = ()


COMMANDS = (*_A_COMMANDS, *_B_COMMANDS, *_C_COMMANDS)
