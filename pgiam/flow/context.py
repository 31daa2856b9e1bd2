"""What every command needs: resolved file locations, the clock and the output policy."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from pgiam.config import model as config
from pgiam.config import paths


@dataclass
class Output:
    quiet: bool = False
    verbose: bool = False
    stdout: TextIO = sys.stdout
    stderr: TextIO = sys.stderr
    printed: int = 0  # lines printed so far (the no-op gate records only silent runs: pgiam/fastpath.py)

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
        print(f"pgiam: error: {line}", file=self.stderr, flush=True)

    def warn(self, line: str) -> None:
        if not self.quiet:
            self.printed += 1
            print(f"pgiam: warning: {line}", file=self.stderr, flush=True)


@dataclass
class Context:
    platform: paths.Platform
    config_path: Path
    site_config_path: Path | None
    pgpass: Path
    service_file: Path
    state_path: Path
    out: Output

    @classmethod
    def create(
        cls, *, config_file: str | None = None, pgpass: str | None = None, service_file: str | None = None,
        quiet: bool = False, verbose: bool = False, platform: paths.Platform | None = None,
    ) -> Context:
        p = platform or paths.current_platform()
        return cls(
            platform=p,
            config_path=paths.config_path(p, config_file),
            site_config_path=paths.site_config_path(p),
            pgpass=paths.pgpass_path(p, pgpass),
            service_file=paths.service_file_path(p, service_file),
            state_path=paths.state_path(p),
            out=Output(quiet=quiet, verbose=verbose),
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time(), tz=timezone.utc).replace(microsecond=0)

    def load_config(self) -> config.Config:
        site = self.site_config_path
        if site is not None and site.resolve() == self.config_path.resolve():
            site = None
        from pgiam.flow import tomlcache

        cache = self.state_path.with_name(self.state_path.name + ".config-cache")
        parse = self.__dict__["_config_parser"] = tomlcache.parser(cache, config.parse_toml)
        return config.load(self.config_path, site, parse)

    def keep_config_cache(self) -> None:
        """Save the parsed config for the next run (pgiam.flow.tomlcache); callers that wrote anyway."""
        parse = self.__dict__.get("_config_parser")
        if parse is not None:
            parse.save()

    @property
    def pgpass_is_default(self) -> bool:
        # asked once per service while planning: resolve the paths once (realpath costs lstat calls)
        cached = self.__dict__.get("_pgpass_default")
        if cached is None or cached[0] != self.pgpass:
            cached = (self.pgpass, _same(self.pgpass, paths.default_pgpass(self.platform)))
            self.__dict__["_pgpass_default"] = cached
        return bool(cached[1])


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a.absolute() == b.absolute()
