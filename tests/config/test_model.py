"""Config file: where it is, what it may say, and how every mistake is reported (file, service, key; exit 2)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from pgiam.config import model as config
from pgiam.errors import ConfigError
from pgiam.flow.context import Context
from tests.conftest import Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def svc_toml(name: str, *extra: str, host: str = HOST, user: str = "alice") -> str:
    lines = [f"[services.{name}]", f'host = "{host}"', f'user = "{user}"', *extra]
    return "\n".join(lines) + "\n"


def load_text(tmp_path: Path, text: str) -> config.Config:
    """The config, with an invalid service raised as the error load() records for it."""
    return strict(config.load(write(tmp_path / "c.toml", text)))


def strict(cfg: config.Config) -> config.Config:
    if cfg.broken:
        raise next(iter(cfg.broken.values()))
    return cfg


# --------------------------------------------------------------------------- which file


def test_default_path_is_platformdirs_user_config_dir(isolated_env: Path) -> None:
    ctx = Context.create()
    want = Path(platformdirs.user_config_dir("pgiam", appauthor=False)) / "config.toml"
    assert ctx.config_path == want
    assert ctx.config_path == isolated_env / ".config" / "pgiam" / "config.toml"  # XDG_CONFIG_HOME honoured


def _known(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    """The config file the CLI read, as its unknown-service error names it."""
    r = cli(*args, "refresh", "nosuch", env=env)
    assert r.code == 2, r.err
    return r.err


def test_xdg_config_home_pgiam_config_and_option_precedence(cli: Cli, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    write(xdg / "pgiam" / "config.toml", svc_toml("from_xdg"))
    envfile = write(tmp_path / "env.toml", svc_toml("from_env"))
    optfile = write(tmp_path / "opt.toml", svc_toml("from_option"))

    err = _known(cli, env={"XDG_CONFIG_HOME": str(xdg)})
    assert f"in {xdg / 'pgiam' / 'config.toml'} (known: from_xdg)" in err
    err = _known(cli, env={"XDG_CONFIG_HOME": str(xdg), "PGIAM_CONFIG": str(envfile)})
    assert f"in {envfile} (known: from_env)" in err
    err = _known(cli, "--config", str(optfile), env={"XDG_CONFIG_HOME": str(xdg), "PGIAM_CONFIG": str(envfile)})
    assert f"in {optfile} (known: from_option)" in err


# --------------------------------------------------------------------------- every mistake: exit 2, one line

BAD = [
    ("unknown_key", svc_toml("prod", "bogus = 1"), ["'prod'", "unknown key 'bogus'"]),
    ("wrong_type", svc_toml("prod", 'port = "5432"'), ["'prod'", "key 'port' must be int, not str"]),
    ("bool_for_int", svc_toml("prod", "port = true"), ["'prod'", "key 'port' must be int, not bool"]),
    ("int_for_bool", svc_toml("prod", "jdbc = 1"), ["'prod'", "key 'jdbc' must be bool, not int"]),
    ("missing_host", '[services.prod]\nuser = "alice"\n', ["'prod'", "missing required key 'host'"]),
    ("missing_user", f'[services.prod]\nhost = "{HOST}"\n', ["'prod'", "missing required key 'user'"]),
    ("bad_name", svc_toml('"pr od"'), ["'pr od'", "name may only use letters"]),
    ("bad_name_slash", svc_toml('"a/b"'), ["'a/b'", "name may only use letters"]),
    ("newline", svc_toml("prod", 'dbname = "a\\nb"'), ["'prod'", "'dbname'", "newline"]),
    ("carriage_return", svc_toml("prod", 'profile = "a\\rb"'), ["'prod'", "'profile'", "newline, CR or NUL"]),
    ("nul", svc_toml("prod", 'sslrootcert = "a\\u0000b"'), ["'prod'", "'sslrootcert'", "NUL"]),
    ("invalid_toml", "[services.prod\nhost = 1\n", ["invalid TOML", "line 1"]),
    ("region_mismatch", svc_toml("prod", 'region = "eu-west-1"'),
     ["'prod'", "key 'region'", "'eu-west-1'", "'us-west-2'"]),
    ("sslmode_prefer", svc_toml("prod", 'sslmode = "prefer"'), ["'prod'", "key 'sslmode'", "'prefer'"]),
    ("sslmode_disable", svc_toml("prod", 'sslmode = "disable"'), ["'prod'", "key 'sslmode'", "'disable'"]),
    ("libpq_reserved", svc_toml("prod", 'libpq = { host = "x" }'), ["'prod'", "'libpq.host'", "service key"]),
    ("libpq_password", svc_toml("prod", 'libpq = { password = "x" }'), ["'prod'", "'libpq.password'"]),
    ("libpq_service", svc_toml("prod", 'libpq = { service = "x" }'), ["'prod'", "'libpq.service'"]),
    ("libpq_servicefile", svc_toml("prod", 'libpq = { servicefile = "x" }'), ["'prod'", "'libpq.servicefile'"]),
    ("libpq_passfile", svc_toml("prod", 'libpq = { passfile = "x" }'), ["'prod'", "'libpq.passfile'", "--pgpass"]),
    ("libpq_bad_keyword", svc_toml("prod", 'libpq = { "Application-Name" = "x" }'),
     ["'prod'", "'libpq.Application-Name'", "lowercase"]),
    ("libpq_bool", svc_toml("prod", "libpq = { connect_timeout = true }"),
     ["'prod'", "'libpq.connect_timeout'", "string or integer"]),
    ("libpq_newline", svc_toml("prod", 'libpq = { application_name = "a\\nb" }'),
     ["'prod'", "'libpq.application_name'", "newline"]),
    ("defaults_unknown", "[defaults]\nbogus = 1\n", ["[defaults]", "unknown key 'bogus'"]),
    ("defaults_wrong_type", '[defaults]\nport = "x"\n' + svc_toml("prod"), ["[defaults]", "key 'port' must be int"]),
    ("unknown_table", "[servcies.prod]\n", ["unknown table [servcies]"]),
    ("port_range", svc_toml("prod", "port = 70000"), ["'prod'", "key 'port'", "1-65535"]),
    ("empty_value", svc_toml("prod", 'dbname = ""'), ["'prod'", "key 'dbname'", "empty"]),
    ("not_aws_host", svc_toml("prod", host="db.example.com"), ["'prod'", "key 'host'", "signing_host"]),
]


@pytest.mark.parametrize(("text", "needles"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_config_mistake_is_one_line_naming_file_service_key(
    cli: Cli, tmp_path: Path, text: str, needles: list[str]
) -> None:
    """A mistake in one service fails that service (exit 1); one that concerns the whole file exits 2."""
    path = write(tmp_path / "bad.toml", text)
    try:
        config.load(path)
    except ConfigError:
        whole_file = True
    else:
        whole_file = False
    r = cli("--config", str(path), "refresh")
    assert r.code == (2 if whole_file else 1), r
    assert r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("pgiam: error: "), r.err
    assert f"{path}:" in r.err
    for needle in needles:
        assert needle in r.err, (needle, r.err)
    assert "Traceback" not in r.err


def test_every_mistake_is_a_config_error_from_load(tmp_path: Path) -> None:
    for ident, text, needles in BAD:
        with pytest.raises(ConfigError) as e:
            load_text(tmp_path, text)
        assert e.value.exit_code == 2
        assert all(n in str(e.value) for n in needles), (ident, str(e.value))


def test_not_utf8_and_directory_are_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_bytes(b'[services.prod]\nhost = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(p)
    d = tmp_path / "dir.toml"
    d.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        config.load(d)


def test_site_file_mistake_names_the_site_file(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", "[defaults]\nprofil = \"x\"\n")
    user = write(tmp_path / "user.toml", svc_toml("prod"))
    with pytest.raises(ConfigError) as e:
        config.load(user, site)
    assert str(e.value).startswith(f"{site}: [defaults]: unknown key 'profil'")


def test_service_key_error_names_the_file_it_came_from(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", "[defaults]\nport = \"5432\"\n")
    user = write(tmp_path / "user.toml", svc_toml("prod"))
    with pytest.raises(ConfigError) as e:
        strict(config.load(user, site))
    assert str(e.value).startswith(f"{site}: [defaults]: key 'port'")


# --------------------------------------------------------------------------- what a valid file means


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    cfg = config.load(tmp_path / "nope.toml")
    assert cfg.services == {} and cfg.exists is False
    assert config.load(write(tmp_path / "empty.toml", "")).exists is True


def test_defaults_inherited_and_overridden(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, '[defaults]\nprofile = "team"\nport = 5433\nrefresh_before = 120\n'
                    + svc_toml("a") + svc_toml("b", 'profile = "other"', "port = 6000"))
    a, b = cfg.services["a"], cfg.services["b"]
    assert (a.profile, a.port, a.refresh_before) == ("team", 5433, 120)
    assert (b.profile, b.port, b.refresh_before) == ("other", 6000, 120)


def test_derived_values(tmp_path: Path) -> None:
    svc = load_text(tmp_path, svc_toml("prod")).services["prod"]
    assert svc.region == "us-west-2"  # from the host
    assert svc.dbname == "alice"  # dbname defaults to the user
    assert svc.kind == "rds" and svc.port == 5432 and svc.sslmode == "verify-full"
    assert svc.dial_port == 5432 and svc.sign_host == HOST


def test_explicit_values_kept(tmp_path: Path) -> None:
    svc = load_text(tmp_path, svc_toml(
        "prod", 'region = "us-west-2"', 'dbname = "app"', 'sslmode = "require"', "local_port = 15432",
        'hostaddr = "127.0.0.1"', 'libpq = { application_name = "x", connect_timeout = 5 }',
    )).services["prod"]
    assert (svc.region, svc.dbname, svc.sslmode) == ("us-west-2", "app", "require")
    assert svc.dial_port == 15432 and svc.port == 5432
    assert svc.libpq == (("application_name", "x"), ("connect_timeout", "5"))


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_sslmodes_at_least_require_accepted(tmp_path: Path, mode: str) -> None:
    assert load_text(tmp_path, svc_toml("prod", f'sslmode = "{mode}"')).services["prod"].sslmode == mode


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "VERIFY-FULL"])
def test_sslmodes_weaker_than_require_refused(tmp_path: Path, mode: str) -> None:
    with pytest.raises(ConfigError, match="key 'sslmode'"):
        load_text(tmp_path, svc_toml("prod", f'sslmode = "{mode}"'))


def test_site_and_user_files_merge_per_key(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", '[defaults]\nprofile = "site"\n' + svc_toml("shared", "port = 5433"))
    user = write(tmp_path / "user.toml", '[services.shared]\nport = 6000\n' + svc_toml("mine"))
    cfg = config.load(user, site)
    assert list(cfg.services) == ["shared", "mine"]
    shared = cfg.services["shared"]
    assert (shared.host, shared.user, shared.port, shared.profile) == (HOST, "alice", 6000, "site")
    assert cfg.services["mine"].profile == "site"


def test_select_keeps_config_order_and_rejects_unknown(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, svc_toml("a") + svc_toml("b") + svc_toml("c"))
    assert [s.name for s in cfg.select([])] == ["a", "b", "c"]
    assert [s.name for s in cfg.select(["c", "a", "c"])] == ["c", "a"]
    with pytest.raises(ConfigError, match=r"no service 'x' in .*c\.toml \(known: a, b, c\)"):
        cfg.select(["a", "x"])


def test_sslrootcert_tilde_expanded_but_system_kept(tmp_path: Path, isolated_env: Path) -> None:
    svc = load_text(tmp_path, svc_toml("a", 'sslrootcert = "~/ca.pem"')).services["a"]
    assert svc.sslrootcert == str(isolated_env / "ca.pem")
    assert load_text(tmp_path, svc_toml("a", 'sslrootcert = "system"')).services["a"].sslrootcert == "system"


def test_an_invalid_service_does_not_hide_the_others(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path / "c.toml", svc_toml("a") + svc_toml("b", "sslmod = 'require'") + svc_toml("c")))
    assert list(cfg.services) == ["a", "c"] and list(cfg.broken) == ["b"] and cfg.names == ["a", "c", "b"]
    assert "unknown key 'sslmod'" in str(cfg.broken["b"])
    with pytest.raises(ConfigError, match="sslmod"):
        cfg.select(["b"])
    assert [s.name for s in cfg.select(["c"])] == ["c"]


def test_a_built_config_as_plain_data_comes_back_equal() -> None:
    """What pgiam.flow.tomlcache keeps of a built config (marshal-able values) gives the same config."""
    from pgiam.config.model import Config, ConfigError, Service, from_plain, to_plain

    svc = Service(name="a", host="db1.abcdefghijkl.eu-west-1.rds.amazonaws.com", user="u",
                  libpq=(("application_name", "x"),), db_groups=("g",))
    cfg = Config(path=Path("/c.toml"), services={"a": svc}, exists=True,
                 broken={"b": ConfigError("/c.toml: service 'b': missing required key 'user'")}, credential_timeout=7)
    back = from_plain(Path("/c.toml"), to_plain(cfg))
    assert back is not None
    assert back.services == cfg.services and back.credential_timeout == 7 and back.exists
    assert {n: str(e) for n, e in back.broken.items()} == {n: str(e) for n, e in cfg.broken.items()}
    assert from_plain(Path("/c.toml"), ("other", "shape")) is None
