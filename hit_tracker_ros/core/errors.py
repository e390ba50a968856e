"""Errors the user's input causes (a file that is missing or does not load, a model or backend
name, a checkpoint that does not fit) and how every command-line tool reports them: one line on
stderr and exit code 2 instead of a traceback, which stays for bugs (HTR_TRACEBACK=1 shows it for
every error). The same wrapper sets the CPU thread policy's OpenMP part before the tool loads
PyTorch (core.cpu)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable


class InputError(Exception):
    """An error in what the user gave (see the module docstring)."""


# what a tool reports in one line: our input errors, a missing or unreadable file (OSError),
# an unknown model, backend or option (ValueError, LookupError), a peer that never answered
EXPECTED = (InputError, OSError, ValueError, LookupError)


def cli(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a tool's main(argv) -> exit code as described in the module docstring."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        from .cpu import configure_openmp

        configure_openmp()  # before PyTorch loads: passive OpenMP workers (core.cpu)
        try:
            return main(argv)
        except EXPECTED as exc:
            if os.environ.get("HTR_TRACEBACK"):
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run
