"""The command line's entry point (``musicae``, ``python -m musicae``, ``python cli.py``).

Ctrl-C is one line and status 130 from the first instant: until a command takes the
signal over (training stops after its current step and checkpoints), an interrupt ends
the program at once, even in the middle of an import, where a KeyboardInterrupt would
leave half-imported modules behind (numpy, torch) and odd errors after them. Stopping
anywhere is safe: every file musicae writes is written whole or not at all (atomic
renames, staged outputs, checkpoints), and worker processes die with their parent.
Warnings, and errors in libraries' background threads, are one line each too.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings


def _interrupted(signum: int, frame: object) -> None:
    os.write(2, b"interrupted\n")
    os._exit(128 + signal.SIGINT)


def _warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line (not Python's two, with a source line of musicae's)."""
    print(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}",
          file=sys.stderr)


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    """A library's background thread that fails (TensorBoard's event writer on a full
    disk) says so in one line; what it served reports its own error, if any."""
    reason = str(args.exc_value).splitlines()[0] if str(args.exc_value) else ""
    print(f"warning: a background thread stopped ({args.exc_type.__name__}: {reason})",
          file=sys.stderr)


def run(prog_name: str = "musicae") -> None:
    signal.signal(signal.SIGINT, _interrupted)
    warnings.showwarning = _warning
    threading.excepthook = _thread_failed
    from musicae.cli import main

    main(prog_name=prog_name)
