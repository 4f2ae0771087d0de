"""The one exception type users see.

Anything raised as ``MusicaeError`` is a problem with the user's input (a bad
file, a bad number, a missing model); the CLI prints it as one line and exits
non-zero. Anything else is a bug and keeps its traceback.
"""


class MusicaeError(Exception):
    """A user-facing error: the message names the file (if any) and the reason."""


def first_line(exc: BaseException) -> str:
    """An exception's message in one short line (for errors about others' exceptions)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
