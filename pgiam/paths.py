"""Where libpq looks for its files and where pgiam keeps its own: decided here, once."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Platform:
    """The few facts about the OS that decide file locations (injectable for tests)."""

    system: str  # "linux" | "darwin" | "windows" | other unix
    env: Mapping[str, str]
    home: Path
    real: bool = False  # the machine we run on: ask platformdirs itself

    @property
    def windows(self) -> bool:
        return self.system == "windows"


def current_platform() -> Platform:
    system = "windows" if os.name == "nt" else sys.platform
    if system.startswith("linux"):
        system = "linux"
    return Platform(system=system, env=os.environ, home=Path(os.path.expanduser("~")), real=True)


def _libpq_dir(p: Platform) -> Path:
    """libpq's per-user directory: home on Unix, %APPDATA%\\postgresql on Windows."""
    if p.windows:
        appdata = p.env.get("APPDATA")
        return Path(appdata) / "postgresql" if appdata else p.home / "AppData" / "Roaming" / "postgresql"
    return p.home


def default_pgpass(p: Platform) -> Path:
    """libpq's built-in pgpass location (ignoring PGPASSFILE)."""
    return _libpq_dir(p) / ("pgpass.conf" if p.windows else ".pgpass")


def default_service_file(p: Platform) -> Path:
    """libpq's built-in per-user service file location (ignoring PGSERVICEFILE)."""
    return _libpq_dir(p) / ".pg_service.conf"


def pgpass_path(p: Platform, override: str | None = None) -> Path:
    """--pgpass, else PGPASSFILE, else libpq's default."""
    chosen = override or p.env.get("PGPASSFILE")
    return Path(os.path.expanduser(chosen)) if chosen else default_pgpass(p)


def service_file_path(p: Platform, override: str | None = None) -> Path:
    """--service-file, else PGSERVICEFILE, else libpq's default."""
    chosen = override or p.env.get("PGSERVICEFILE")
    return Path(os.path.expanduser(chosen)) if chosen else default_service_file(p)


def config_path(p: Platform, override: str | None = None) -> Path:
    """--config, else PGIAM_CONFIG, else platformdirs' user config dir + pgiam/config.toml."""
    chosen = override or p.env.get("PGIAM_CONFIG")
    if chosen:
        return Path(os.path.expanduser(chosen))
    return _user_dir(p, "config") / "config.toml"


def site_config_path(p: Platform) -> Path | None:
    """The system-wide config every user inherits (PGIAM_SITE_CONFIG overrides; /etc/pgiam on Unix)."""
    chosen = p.env.get("PGIAM_SITE_CONFIG")
    if chosen is not None:
        return Path(chosen) if chosen else None
    if p.windows:
        programdata = p.env.get("PROGRAMDATA")
        return Path(programdata) / "pgiam" / "config.toml" if programdata else None
    return Path("/etc/pgiam/config.toml")


def state_path(p: Platform) -> Path:
    """pgiam's small state file (last refresh, last error, credential expiry per service)."""
    chosen = p.env.get("PGIAM_STATE")
    if chosen:
        return Path(os.path.expanduser(chosen))
    return _user_dir(p, "state") / "state.json"


def _user_dir(p: Platform, kind: str) -> Path:
    """platformdirs' user config/state dir for pgiam (its rules restated for an injected platform)."""
    if p.real:
        import platformdirs

        if kind == "config":
            return Path(platformdirs.user_config_dir("pgiam", appauthor=False))
        return Path(platformdirs.user_state_dir("pgiam", appauthor=False))
    if p.windows:
        base = p.env.get("LOCALAPPDATA") or str(p.home / "AppData" / "Local")
        return Path(base) / "pgiam"
    if p.system == "darwin":
        return p.home / "Library" / "Application Support" / "pgiam"
    xdg = {"config": "XDG_CONFIG_HOME", "state": "XDG_STATE_HOME"}[kind]
    fallback = {"config": ".config", "state": ".local/state"}[kind]
    base = p.env.get(xdg, "").strip()
    return Path(base if base and os.path.isabs(base) else p.home / fallback) / "pgiam"
