"""What every command needs: resolved file locations, the clock and the output policy."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pgiam.config import model as config
from pgiam.config import paths
from pgiam.output import Output


@dataclass
class Context:
    platform: paths.Platform
    config_path: Path
    site_config_path: Path | None
    pgpass: Path
    service_file: Path
    state_path: Path
    out: Output
    config_explicit: str = ""  # "--config" or "PGIAM_CONFIG" when one of them named the file
    credential_timeout: int = config.DEFAULT_CREDENTIAL_TIMEOUT  # from [defaults], set by load_config

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
            config_explicit="--config" if config_file else "PGIAM_CONFIG" if p.env.get("PGIAM_CONFIG") else "",
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time(), tz=timezone.utc).replace(microsecond=0)

    def load_config(self, text: str | None = None) -> config.Config:
        """The config (site config layered under the user's); ``text`` stands for the user's file.

        Within one run, config bytes read before are not built again (a verb looks at the config up to
        three times: before it plans, and under the lock)."""
        site = self.site_config_path
        if site is not None and site.resolve() == self.config_path.resolve():
            site = None
        memo_key = (text, _peek(site), _peek(self.config_path) if text is None else None)
        memo = self.__dict__.get("_config_memo")
        if memo is not None and memo[0] == memo_key:
            cfg: config.Config = memo[1]
        else:
            parse = self.__dict__.get("_config_parser")
            if parse is None:
                from pgiam.flow import tomlcache

                cache = self.state_path.with_name(self.state_path.name + ".config-cache")
                parse = self.__dict__["_config_parser"] = tomlcache.parser(cache, config.parse_toml)
            readable = memo_key[1] is not _UNREADABLE and memo_key[2] is not _UNREADABLE
            user_bytes = memo_key[2] if text is None else text.encode("utf-8")
            # everything building the config depends on: both files' names and bytes, the home
            # directory (`~` in paths) and the code that builds it
            built_key = (str(self.config_path), str(site) if site else "", user_bytes, memo_key[1],
                         os.path.expanduser("~"), _builder_signature()) if readable else None
            found = parse.recall(built_key) if built_key is not None else None
            cfg_or_none = config.from_plain(self.config_path, found) if found is not None else None
            if cfg_or_none is None:
                cfg_or_none = config.load(self.config_path, site, parse, text=None if text is None else
                                          text.encode("utf-8"))
                if built_key is not None:
                    parse.remember(built_key, config.to_plain(cfg_or_none))
            cfg = cfg_or_none
            if readable:
                self.__dict__["_config_memo"] = (memo_key, cfg)
        self.credential_timeout = cfg.credential_timeout
        return cfg

    def site_config_bytes(self) -> bytes | None:
        """The site config's bytes as a run reads them (None: missing; a marker: unreadable)."""
        return _peek(self.site_config_path)

    @property
    def libpq_memo(self) -> Path:
        """Where the libpq version found by a run is remembered (pgiam.host.libpq_version)."""
        return self.state_path.with_name("libpq-version.json")

    def keep_caches(self) -> None:
        """Save what this run worked out for the next one: the parsed config (pgiam.flow.tomlcache) and
        the libpq version; callers that succeeded and wrote anyway."""
        from pgiam.host import libpq_version

        parse = self.__dict__.get("_config_parser")
        if parse is not None:
            parse.save()
        libpq_version.keep(self.libpq_memo)

    def require_config(self) -> None:
        """An explicitly named config (--config, PGIAM_CONFIG) that does not exist is an error (exit 2,
        also under --quiet): a moved config must not silently stop a scheduled job."""
        if not self.config_explicit:
            return
        try:
            self.config_path.stat()
            return
        except FileNotFoundError:
            pass
        except OSError:
            return  # (unreadable: loading it says why)
        from pgiam.errors import ConfigError

        raise ConfigError(
            f"{self.config_path}: no such config file (named by {self.config_explicit}); fix the path or "
            "create it with `pgiam add`"
        )

    @property
    def pgpass_is_default(self) -> bool:
        # asked once per service while planning: resolve the paths once (realpath costs lstat calls)
        cached = self.__dict__.get("_pgpass_default")
        if cached is None or cached[0] != self.pgpass:
            cached = (self.pgpass, _same(self.pgpass, paths.default_pgpass(self.platform)))
            self.__dict__["_pgpass_default"] = cached
        return bool(cached[1])


def _builder_signature() -> tuple[object, ...]:
    """The code that builds a config: pgiam's version and the identity on disk of the config package's
    modules (an edited checkout builds anew)."""
    import pgiam
    from pgiam.config import clouds, endpoints, kinds

    out: list[object] = [pgiam.__version__]
    for mod in (config, kinds, clouds, endpoints):
        try:
            st = os.stat(mod.__file__ or "")
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


_UNREADABLE = b"\0unreadable"  # (a file that could not be read: never taken from the memo)


def _peek(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return _UNREADABLE


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a.absolute() == b.absolute()
