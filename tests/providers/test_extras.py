"""Without a cloud's pip extra installed, pgiam still runs and says, in one line, what to install.

The extra is hidden from the real `python -m pgiam` by a sitecustomize on PYTHONPATH whose import hook
fails the module exactly as a missing package does (ModuleNotFoundError)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cloud_stubs import hide_modules
from tests.conftest import Cli

AZURE_HOST = "mydb.postgres.database.azure.com"


@pytest.mark.parametrize(
    ("kind", "host", "user", "module", "extra"),
    [
        ("azure", AZURE_HOST, "DB Admins", "azure.identity", "azure"),
        ("cloudsql", "10.1.2.3", "ann@example.com", "google.auth", "gcp"),
        ("alloydb", "10.1.2.4", "app@proj.iam", "google.auth", "gcp"),
    ],
)
def test_missing_extra_is_one_line_naming_it(cli: Cli, isolated_env: Path, kind: str, host: str, user: str,
                                             module: str, extra: str) -> None:
    env = hide_modules(isolated_env.parent / "shim", module)
    hint = f"pip install 'pgiam[{extra}]'"

    r = cli("token", "--kind", kind, "--hostname", host, "--username", user, env=env)
    assert r.code == 1 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("pgiam: error: ") and hint in r.err, r.err

    # add saves nothing when the token cannot be had, and says why in one line with the same fix
    r = cli("add", "svc", "--kind", kind, "--host", host, "--user", user, env=env)
    assert r.code == 1 and r.err.count("\n") == 1 and "nothing was saved" in r.err
    assert hint in r.err and "Traceback" not in r.err, r.err
    assert not (isolated_env / ".pgpass").exists()
    cfg = isolated_env / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[services.svc]\nkind = "{kind}"\nhost = "{host}"\nuser = "{user}"\n')
    r = cli("refresh", env=env)  # a scheduled refresh reports it the same way
    assert r.code == 1 and hint in r.err and r.err.count("\n") == 1, r.err

    # status has no cloud import at all (it shows the last error); doctor fails the extra check with the fix
    r = cli("status", "--json", env=env)
    assert r.code == 1 and hint in json.loads(r.out)[0]["error"]
    r = cli("doctor", "svc", "--json", env=env)
    checks = {c["check"]: c for c in json.loads(r.out) if c["service"] == "svc"}
    assert r.code == 1 and checks["extra"]["status"] == "fail" and checks["extra"]["fix"] == hint

    # with the extra importable again, the same config has no extra problem
    r = cli("doctor", "svc", "--json")
    checks = {c["check"]: c for c in json.loads(r.out) if c["service"] == "svc"}
    assert checks["extra"]["status"] == "ok"


def test_the_shim_really_hides_the_module(cli: Cli, isolated_env: Path) -> None:
    """Guard for the tests above: the same interpreter imports the module without the shim."""
    import subprocess
    import sys

    env = cli.environ(hide_modules(isolated_env.parent / "shim", "google.auth"))
    code = "import importlib.util as u; print(u.find_spec('google.auth') is not None)"
    hidden = subprocess.run([sys.executable, "-c", "import google.auth"], env=env, capture_output=True, text=True)
    assert hidden.returncode == 1 and "ModuleNotFoundError" in hidden.stderr
    shown = subprocess.run([sys.executable, "-c", code], env=cli.environ(), capture_output=True, text=True)
    assert shown.stdout.strip() == "True"
