"""One-line notices on stderr, ``pgiam: <text>``, without the logging package.

Importing logging (and the traceback, threading and string machinery it pulls in) cost ~6 ms on
every run, for a handful of warnings. main() resets the switches and turns notices off for -q;
`pgiam token` silences the "stanza" channel (it writes no stanza).
"""

from __future__ import annotations

import sys

_quiet = False
_silenced: set[str] = set()
_cli = False  # set by main(): a command-line run, not pgiam used as a library
_printed = 0  # notices printed since the last count_printed() (pgiam/fastpath.py records silent runs only)


def reset(*, quiet: bool = False) -> None:
    """Start of a command (main()): every channel on, unless quiet (-q: errors only)."""
    global _quiet, _cli
    _quiet = quiet
    _cli = True
    _silenced.clear()


def route_logging() -> None:
    """Call where logging is imported anyway (botocore): a command-line run sends the records of other
    libraries to stderr as ``pgiam: <message>``, WARNING and up, as main() did before notices."""
    if not _cli:
        return
    import logging

    logging.basicConfig(format="pgiam: %(message)s", level=logging.WARNING, stream=sys.stderr)


def silence(channel: str) -> None:
    """Drop the notices of one channel for the rest of the run."""
    _silenced.add(channel)


def warn(text: str, channel: str = "pgiam") -> None:
    """Print ``pgiam: <text>`` on stderr unless quiet or the channel is silenced."""
    global _printed
    if _quiet or channel in _silenced:
        return
    _printed += 1
    print(f"pgiam: {text}", file=sys.stderr, flush=True)


def count_printed() -> int:
    """How many notices were printed since the last call (and start counting again)."""
    global _printed
    n, _printed = _printed, 0
    return n
