"""Where libpq looks for its files and where pgiam keeps its own: decided here, once."""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Callable, Mapping
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
    if os.environ.get("HOME") == "" and os.name != "nt":
        # libpq treats an empty HOME as unset (the passwd entry's home); so do pgiam and its children
        del os.environ["HOME"]
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


BUNDLE_NAME = "rds-global-bundle.pem"


def default_bundle(p: Platform) -> Path:
    """Where `pgiam ca install` puts the RDS CA bundle: ~/.postgresql/rds-global-bundle.pem, libpq's
    per-user TLS directory (%APPDATA%\\postgresql on Windows)."""
    if p.windows:
        return default_pgpass(p).parent / BUNDLE_NAME
    return p.home / ".postgresql" / BUNDLE_NAME


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


def _xdg_unix(p: Platform) -> bool:
    """The real platform is one where platformdirs applies its Unix (XDG) rules, which are restated
    below (tests/test_paths.py compares them): not Windows, macOS, iOS or (possibly) Android, and
    HOME is an absolute path. Importing platformdirs costs ~3 ms on every run."""
    if p.windows or p.system in ("darwin", "ios", "android") or hasattr(sys, "getandroidapilevel"):
        return False
    if p.env.get("ANDROID_DATA") == "/data" and p.env.get("ANDROID_ROOT") == "/system":
        return False  # perhaps an Android app: platformdirs decides
    return posixpath.isabs(p.env.get("HOME", ""))


def _user_dir(p: Platform, kind: str) -> Path:
    """platformdirs' user config/state dir for pgiam (its rules restated for an injected platform)."""
    if p.real and not _xdg_unix(p):
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
    base = p.env.get(xdg, "")  # like platformdirs: used only when absolute (XDG spec), never stripped
    if posixpath.isabs(base):
        return Path(base) / "pgiam"
    if p.real:  # $HOME as platformdirs expands it (absolute here: see _xdg_unix)
        return Path(os.path.expanduser("~/" + fallback)) / "pgiam"
    return p.home / fallback / "pgiam"


# --- libpq's view: which file psql will actually read, per platform and libpq version -----------------

def has_mode_bits(p: Platform) -> bool:
    """Windows has no Unix permission bits: libpq checks none there and pgiam cannot set 0600."""
    return not p.windows


def permissions_note(p: Platform) -> str | None:
    """What to say instead of "mode 0600" where there are no mode bits (doctor and status)."""
    if has_mode_bits(p):
        return None
    return (
        "Windows has no Unix mode bits: libpq does not check pgpass permissions there and pgiam cannot "
        "make it 0600; it is private only as far as the NTFS permissions on %APPDATA% make it"
    )


def system_service_file(p: Platform, compiled_sysconfdir: str | None = None) -> Path | None:
    """libpq's system-wide service file: $PGSYSCONFDIR/pg_service.conf, else the compiled-in sysconfdir
    (`pg_config --sysconfdir`, passed in by the caller), else None."""
    base = p.env.get("PGSYSCONFDIR") or compiled_sysconfdir
    return Path(base) / "pg_service.conf" if base else None


def service_file_search(
    p: Platform, override: str | None = None, compiled_sysconfdir: str | None = None,
) -> list[Path]:
    """Where libpq looks for a service, in order: the user file (PGSERVICEFILE or default), then the
    system file (only consulted when the service is not in the first)."""
    found = [service_file_path(p, override)]
    system = system_service_file(p, compiled_sysconfdir)
    if system is not None:
        found.append(system)
    return found


def passwd_home() -> str | None:
    """The home directory in the passwd entry of the effective user (what libpq <= 14 uses)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_dir or None
    except (ImportError, KeyError, AttributeError):
        return None


def effective_pgpass(
    p: Platform, version: tuple[int, int] | None, passwd_home: str | None,
) -> tuple[Path, str]:
    """The pgpass file psql will read (ignoring a stanza's passfile=) and a note when it is surprising.

    PGPASSFILE wins everywhere (taken literally: libpq does not expand "~"); Windows uses %APPDATA%;
    on Unix libpq <= 14 uses the passwd home directory, 15+ uses $HOME when set.
    """
    return _effective(p, version, passwd_home, "PGPASSFILE", ".pgpass", default_pgpass)


def effective_service_file(
    p: Platform, version: tuple[int, int] | None, passwd_home: str | None,
) -> tuple[Path, str]:
    """Like effective_pgpass, for the per-user service file (PGSERVICEFILE, else ~/.pg_service.conf)."""
    return _effective(p, version, passwd_home, "PGSERVICEFILE", ".pg_service.conf", default_service_file)


def _effective(
    p: Platform, version: tuple[int, int] | None, pw_home: str | None, env_var: str, name: str,
    default: Callable[[Platform], Path],
) -> tuple[Path, str]:
    from pgiam.libpq.rules import home_is_passwd_entry, libpq_home
    from pgiam.libpq.version import format_version

    chosen = p.env.get(env_var)
    if chosen:
        note = f"{env_var}={chosen} starts with '~', which libpq does not expand" if chosen[:1] == "~" else ""
        return Path(chosen), note
    if p.windows:
        return default(p), ""
    env_home = p.env.get("HOME") or None
    home = libpq_home(version, env_home, pw_home) or str(p.home)
    path = Path(home) / name
    if env_home is None or pw_home is None or Path(env_home) == Path(pw_home):
        return path, ""
    fix = f"set {env_var}={Path(env_home) / name} (or upgrade libpq to 15+)"
    rule = home_is_passwd_entry(version)
    if rule:
        return path, (
            f"libpq {format_version(version)} reads {path} (the home directory in the passwd entry), not "
            f"$HOME/{name} ({Path(env_home) / name}); {fix}"
        )
    if rule is None:
        return path, (
            f"$HOME ({env_home}) differs from the passwd home directory ({pw_home}) and the libpq version is "
            f"unknown: libpq 15+ reads {path}, libpq 14 and older read {Path(pw_home) / name}; {fix}"
        )
    return path, ""


