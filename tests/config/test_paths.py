"""File locations per platform, decided in pgiam.config.paths and tested by injecting the platform.

Where platformdirs can answer for an injected platform (its Unix, MacOS and Windows classes all
instantiate on Linux), our restatement is compared with it so the two cannot drift.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import platformdirs.macos
import platformdirs.unix
import platformdirs.windows
import pytest

from pgiam import atomic, output
from pgiam.config import paths
from pgiam.config.paths import Platform


def linux(home: Path, **env: str) -> Platform:
    return Platform(system="linux", env={"HOME": str(home), **env}, home=home)


def darwin(home: Path, **env: str) -> Platform:
    return Platform(system="darwin", env={"HOME": str(home), **env}, home=home)


def windows(home: Path, **env: str) -> Platform:
    return Platform(system="windows", env=env, home=home)


# --------------------------------------------------------------------------- libpq's files


@pytest.mark.parametrize("system", ["linux", "darwin", "freebsd14"])
def test_unix_like_defaults(tmp_path: Path, system: str) -> None:
    p = Platform(system=system, env={"HOME": str(tmp_path)}, home=tmp_path)
    assert paths.pgpass_path(p) == tmp_path / ".pgpass"
    assert paths.service_file_path(p) == tmp_path / ".pg_service.conf"
    assert paths.has_mode_bits(p) and paths.permissions_note(p) is None


def test_windows_uses_appdata_postgresql(tmp_path: Path) -> None:
    appdata = tmp_path / "AppData" / "Roaming"
    p = windows(tmp_path / "home", APPDATA=str(appdata))
    assert paths.pgpass_path(p) == appdata / "postgresql" / "pgpass.conf"
    assert paths.service_file_path(p) == appdata / "postgresql" / ".pg_service.conf"
    # no APPDATA: the profile's Roaming directory
    bare = windows(tmp_path / "home")
    roaming = tmp_path / "home" / "AppData" / "Roaming"
    assert paths.default_pgpass(bare) == roaming / "postgresql" / "pgpass.conf"


def test_windows_says_there_are_no_mode_bits(tmp_path: Path) -> None:
    p = windows(tmp_path, APPDATA=str(tmp_path))
    assert not paths.has_mode_bits(p)
    note = paths.permissions_note(p)
    assert note is not None and "no Unix mode bits" in note and "cannot make it 0600" in note


@pytest.mark.parametrize("make", [linux, darwin, windows])
def test_env_overrides_honoured_everywhere(tmp_path: Path, make: object) -> None:
    env = {"PGPASSFILE": str(tmp_path / "pw"), "PGSERVICEFILE": str(tmp_path / "svc"),
           "PGSYSCONFDIR": str(tmp_path / "etc"), "APPDATA": str(tmp_path / "ad")}
    p = make(tmp_path / "home", **env)  # type: ignore[operator]
    assert paths.pgpass_path(p) == tmp_path / "pw"
    assert paths.service_file_path(p) == tmp_path / "svc"
    assert paths.system_service_file(p) == tmp_path / "etc" / "pg_service.conf"
    assert paths.service_file_search(p) == [tmp_path / "svc", tmp_path / "etc" / "pg_service.conf"]
    # command-line options beat the environment
    assert paths.pgpass_path(p, str(tmp_path / "opt")) == tmp_path / "opt"
    assert paths.effective_pgpass(p, (15, 4), "/elsewhere") == (tmp_path / "pw", "")


def test_system_service_file_needs_pgsysconfdir_or_compiled_default(tmp_path: Path) -> None:
    p = linux(tmp_path)
    assert paths.system_service_file(p) is None
    assert paths.service_file_search(p) == [tmp_path / ".pg_service.conf"]
    compiled = paths.system_service_file(p, "/etc/postgresql-common")
    assert compiled == Path("/etc/postgresql-common/pg_service.conf")


# --------------------------------------------------------------------------- which pgpass psql reads


def test_libpq_14_reads_the_passwd_home_not_HOME(tmp_path: Path) -> None:
    env_home, pw_home = tmp_path / "env", tmp_path / "pw"
    p = linux(env_home)
    path, note = paths.effective_pgpass(p, (14, 11), str(pw_home))
    assert path == pw_home / ".pgpass"
    assert "libpq 14.11 reads" in note and str(pw_home / ".pgpass") in note
    assert f"PGPASSFILE={env_home / '.pgpass'}" in note
    svc, snote = paths.effective_service_file(p, (12, 5), str(pw_home))
    assert svc == pw_home / ".pg_service.conf" and "PGSERVICEFILE=" in snote


def test_libpq_15_reads_HOME(tmp_path: Path) -> None:
    env_home, pw_home = tmp_path / "env", tmp_path / "pw"
    assert paths.effective_pgpass(linux(env_home), (15, 0), str(pw_home)) == (env_home / ".pgpass", "")


def test_same_home_or_unknown_version(tmp_path: Path) -> None:
    p = linux(tmp_path)
    assert paths.effective_pgpass(p, (9, 624), str(tmp_path)) == (tmp_path / ".pgpass", "")
    path, note = paths.effective_pgpass(p, None, str(tmp_path / "pw"))
    assert path == tmp_path / ".pgpass"
    assert "version is unknown" in note and str(tmp_path / "pw" / ".pgpass") in note


def test_pgpassfile_with_tilde_is_taken_literally(tmp_path: Path) -> None:
    path, note = paths.effective_pgpass(linux(tmp_path, PGPASSFILE="~/pw"), (16, 1), None)
    assert path == Path("~/pw") and "does not expand" in note


def test_windows_effective_pgpass_ignores_home(tmp_path: Path) -> None:
    p = windows(tmp_path / "home", APPDATA=str(tmp_path / "ad"), HOME=str(tmp_path / "h2"))
    assert paths.effective_pgpass(p, (14, 1), str(tmp_path / "pw")) == (
        tmp_path / "ad" / "postgresql" / "pgpass.conf", "")


# --------------------------------------------------------------------------- pgiam's files vs platformdirs


def _clear_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("XDG_"):
            monkeypatch.delenv(var)


@pytest.mark.parametrize("xdg", [True, False])
def test_linux_dirs_match_platformdirs_unix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            xdg: bool) -> None:
    home = tmp_path / "h"
    monkeypatch.setenv("HOME", str(home))
    _clear_xdg(monkeypatch)
    if xdg:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    ours = Platform(system="linux", env=dict(os.environ), home=home)
    theirs = platformdirs.unix.Unix(appname="pgiam", appauthor=False)
    assert paths.config_path(ours) == Path(theirs.user_config_dir) / "config.toml"
    assert paths.state_path(ours) == Path(theirs.user_state_dir) / "state.json"
    assert (paths.config_path(ours).parent.parent == tmp_path / "cfg") is xdg


def test_relative_xdg_is_ignored(tmp_path: Path) -> None:
    p = linux(tmp_path, XDG_CONFIG_HOME="relative/dir")
    assert paths.config_path(p) == tmp_path / ".config" / "pgiam" / "config.toml"


def test_macos_dirs_match_platformdirs_macos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _clear_xdg(monkeypatch)
    ours = darwin(tmp_path)
    theirs = platformdirs.macos.MacOS(appname="pgiam", appauthor=False)
    assert paths.config_path(ours) == Path(theirs.user_config_dir) / "config.toml"
    assert paths.state_path(ours) == Path(theirs.user_state_dir) / "state.json"
    assert paths.config_path(ours) == tmp_path / "Library" / "Application Support" / "pgiam" / "config.toml"


def test_windows_dirs_match_platformdirs_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "AppData" / "Local"
    monkeypatch.setenv("LOCALAPPDATA", str(local))
    # on Linux platformdirs cannot ask the Windows shell; its environment-variable resolver is the one
    # it falls back to on Windows without ctypes/winreg
    from_env = platformdirs.windows.get_win_folder_from_env_vars
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", from_env)
    ours = windows(tmp_path / "home", LOCALAPPDATA=str(local), APPDATA=str(tmp_path / "AppData" / "Roaming"))
    theirs = platformdirs.windows.Windows(appname="pgiam", appauthor=False)
    assert paths.config_path(ours) == Path(theirs.user_config_dir) / "config.toml"
    assert paths.state_path(ours) == Path(theirs.user_state_dir) / "state.json"
    assert paths.config_path(ours) == local / "pgiam" / "config.toml"


def test_restatement_equals_platformdirs_on_this_machine(isolated_env: Path) -> None:
    real = paths.current_platform()
    assert real.real
    restated = Platform(system=real.system, env=real.env, home=real.home, real=False)
    assert paths.config_path(restated) == paths.config_path(real)
    assert paths.state_path(restated) == paths.state_path(real)
    assert paths.pgpass_path(real) == isolated_env / ".pgpass"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG (Unix) rules of platformdirs")
@pytest.mark.parametrize("env", [
    {},
    {"XDG_CONFIG_HOME": "{tmp}/cfg", "XDG_STATE_HOME": "{tmp}/st"},
    {"HOME": "{tmp}/h/"},
    {"HOME": "/{tmp}/h2"},  # a leading "//" is kept by Path, dropped by expanduser
    {"HOME": "relative-home"},  # not absolute: pgiam asks platformdirs itself
])
def test_real_unix_dirs_equal_platformdirs_own_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      env: dict[str, str]) -> None:
    """On Linux/BSD pgiam applies the restatement to the real platform (without importing platformdirs):
    it must be what platformdirs' own auto-detected class answers."""
    _clear_xdg(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for k, v in env.items():
        monkeypatch.setenv(k, v.replace("{tmp}", str(tmp_path)))
    real = paths.current_platform()
    theirs = platformdirs.PlatformDirs(appname="pgiam", appauthor=False)
    assert paths.config_path(real) == Path(theirs.user_config_dir) / "config.toml"
    assert paths.state_path(real) == Path(theirs.user_state_dir) / "state.json"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG (Unix) rules")
def test_relative_xdg_dirs_are_ignored_as_the_spec_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """XDG base directories must be absolute; others are ignored. (platformdirs < 4 used them as they
    were, newer releases follow the spec; pgiam follows the spec whichever is installed.)"""
    _clear_xdg(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/cfg")
    monkeypatch.setenv("XDG_STATE_HOME", " ")
    real = paths.current_platform()
    assert paths.config_path(real) == tmp_path / "home" / ".config" / "pgiam" / "config.toml"
    assert paths.state_path(real) == tmp_path / "home" / ".local" / "state" / "pgiam" / "state.json"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="platformdirs is imported on macOS and Windows")
def test_real_unix_dirs_do_not_import_platformdirs(isolated_env: Path) -> None:
    probe = ("import sys\nfrom pgiam.config import paths\np = paths.current_platform()\n"
             "print(paths.config_path(p), paths.state_path(p), 'platformdirs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env=dict(os.environ)).stdout.split()
    assert out == [str(isolated_env / ".config" / "pgiam" / "config.toml"),
                   str(isolated_env / ".local" / "state" / "pgiam" / "state.json"), "False"]


# --------------------------------------------------------------------------- no 0600 claims without mode bits


def test_no_mode_fix_claimed_without_mode_bits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    output.reset()
    target = tmp_path / "pgpass.conf"
    target.write_bytes(b"a:1:b:c:d\n")
    target.chmod(0o644)  # what st_mode looks like on Windows (0666/0444): no meaning there
    monkeypatch.setattr(atomic, "_MODE_BITS", False)
    assert atomic.update_file(target, lambda d: (d or b"") + b"e:2:f:g:h\n", private=True).fixed_mode is None
    # with mode bits (POSIX) the same write does report the fix, so the check above can fail
    target.chmod(0o644)
    monkeypatch.setattr(atomic, "_MODE_BITS", True)
    assert atomic.update_file(target, lambda d: (d or b"") + b"i:3:j:k:l\n", private=True).fixed_mode == 0o644


# --------------------------------------------------------------------------- the doctor checks built on these


def test_doctor_home_directory_check(tmp_path: Path) -> None:
    from pgiam.host import doctor

    env_home, pw_home = tmp_path / "env", tmp_path / "pw"
    c = doctor.home_directory(linux(env_home), (14, 2), str(pw_home))
    assert c.status == doctor.FAIL and str(pw_home / ".pgpass") in c.verdict and "PGPASSFILE=" in c.fix
    assert doctor.home_directory(linux(env_home), (15, 2), str(pw_home)).status == doctor.OK
    assert doctor.home_directory(linux(env_home), None, str(pw_home)).status == doctor.WARN


def test_doctor_mode_bits_check(tmp_path: Path) -> None:
    from pgiam.host import doctor

    assert doctor.mode_bits(windows(tmp_path, APPDATA=str(tmp_path))).status == doctor.WARN
    assert doctor.mode_bits(linux(tmp_path)).status == doctor.OK


def test_default_bundle_paths() -> None:
    unix = paths.Platform("linux", {}, Path("/home/a"))
    assert paths.default_bundle(unix) == Path("/home/a/.postgresql/rds-global-bundle.pem")
    win = paths.Platform("windows", {"APPDATA": "C:/Users/a/AppData/Roaming"}, Path("C:/Users/a"))
    assert paths.default_bundle(win) == Path("C:/Users/a/AppData/Roaming/postgresql/rds-global-bundle.pem")
