"""The one output channel: change lines on stdout, ``pgiam: warning: …`` and ``pgiam: error: …`` on
stderr, with the streams looked up when printing (so a redirect, a test's capture or a closed pipe
always applies), and without the logging package (importing it costs ~6 ms on every run).

Commands print through their context's Output; code without one at hand (a provider's notice, the
file writer's mode fix) uses ``warn()``, which follows the switches main() set for the run.
"""

from __future__ import annotations

import sys
from typing import TextIO

WARNING = "pgiam: warning: "
ERROR = "pgiam: error: "


class Output:
    """Where a command's lines go and which it shows (-q: errors only; -v: also what needed nothing)."""

    def __init__(self, quiet: bool = False, verbose: bool = False, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self._stdout = stdout
        self._stderr = stderr
        self.printed = 0  # lines printed so far (the no-op gate records only silent runs: pgiam/fastpath.py)

    @property
    def stdout(self) -> TextIO:
        return self._stdout if self._stdout is not None else sys.stdout

    @stdout.setter
    def stdout(self, stream: TextIO | None) -> None:
        self._stdout = stream

    @property
    def stderr(self) -> TextIO:
        return self._stderr if self._stderr is not None else sys.stderr

    @stderr.setter
    def stderr(self, stream: TextIO | None) -> None:
        self._stderr = stream

    def info(self, line: str) -> None:
        """A line about a change (hidden under --quiet)."""
        if not self.quiet:
            self.printed += 1
            print(line, file=self.stdout, flush=True)

    def detail(self, line: str) -> None:
        """A line only --verbose shows."""
        if self.verbose and not self.quiet:
            self.printed += 1
            print(line, file=self.stdout, flush=True)

    def error(self, line: str) -> None:
        """One line on stderr, always (also under --quiet)."""
        self.printed += 1
        print(f"{ERROR}{line}", file=self.stderr, flush=True)

    def warn(self, line: str) -> None:
        if not self.quiet:
            self.printed += 1
            print(f"{WARNING}{line}", file=self.stderr, flush=True)


class _Run:
    """The switches of the current command-line run (set by main())."""

    quiet = False
    cli = False
    silenced: frozenset[str] = frozenset()
    printed = 0  # warnings printed since the last count_printed()


def reset(*, quiet: bool = False) -> None:
    """Start of a command (main()): every channel on, unless quiet (-q: errors only)."""
    _Run.quiet, _Run.cli, _Run.silenced = quiet, True, frozenset()


def silence(channel: str) -> None:
    """Drop the warnings of one channel for the rest of the run (`pgiam token` writes no stanza)."""
    _Run.silenced = _Run.silenced | {channel}


def warn(text: str, channel: str = "pgiam") -> None:
    """``pgiam: warning: <text>`` on stderr unless the run is quiet or the channel silenced."""
    if _Run.quiet or channel in _Run.silenced:
        return
    _Run.printed += 1
    print(f"{WARNING}{text}", file=sys.stderr, flush=True)


def count_printed() -> int:
    """How many warnings warn() printed since the last call (and start counting again)."""
    n, _Run.printed = _Run.printed, 0
    return n


def route_logging() -> None:
    """Where logging is imported anyway (botocore): a command-line run sends other libraries' records,
    WARNING and up, to stderr with the same prefix."""
    if not _Run.cli:
        return
    import logging

    logging.basicConfig(format=f"{WARNING}%(message)s", level=logging.WARNING, stream=sys.stderr, force=True)
