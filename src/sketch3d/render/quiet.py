"""Silence what native code (Blender, Cycles) prints on the process's stdout."""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True) -> Iterator[None]:
    """Point file descriptor 1 at /dev/null for the block; stderr is left alone.

    Blender writes its progress lines from C, past ``sys.stdout``, so only
    redirecting the descriptor itself hides them.
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _flush_c_stdio() -> None:
    """Flush C-level stdio buffers so that buffered native output also goes to /dev/null."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no libc symbol table (e.g. Windows): nothing to flush
        pass
