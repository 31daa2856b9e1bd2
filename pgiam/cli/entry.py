"""The console script and `python -m pgiam`: the no-op gate (pgiam.fastpath) first, then the command
line only when the gate cannot answer. Kept tiny: everything it imports runs on every scheduled run."""

from __future__ import annotations

import sys

from pgiam.fastpath import _QUIET, gate


def main() -> int:
    """The console script and `python -m pgiam`: the gate first, the command line only when needed."""
    args = sys.argv[1:]
    if gate(args):
        return 0
    import gc

    # A run frees everything when it exits: the cyclic collector's passes over the imports and the
    # config only cost time. `refresh --every` (a process that lives on) turns it back on.
    gc.disable()
    if args[:2] == ["--all-users", "refresh"] and all(a in _QUIET for a in args[2:]):
        from pgiam.host import allusers

        return allusers.refresh(args[1:], _cli)
    from pgiam.cli.main import main as cli_main

    code: int = cli_main()
    return code


def _cli(args: list[str]) -> int:
    from pgiam.cli.main import main as cli_main

    code: int = cli_main(args)
    return code
