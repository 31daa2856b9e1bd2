"""The no-op refresh (every token fresh) and `pgiam status` never import botocore or boto3.

That path runs every few minutes for every user on a bastion: it must decide from the config and the
expiry encoded in the pgpass tokens alone. A behaviour, not a timing: the child reports sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_KEY_ID, Cli

SERVICES = 10
HOST = "db{i}.abcdefghijkl.eu-west-1.rds.amazonaws.com"

# Runs pgiam's own main() in the child, then prints which AWS SDK modules got imported.
PROBE = (
    "import json, sys\n"
    "from pgiam.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "sdk = sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3'))\n"
    "print('PROBE ' + json.dumps({'code': code, 'sdk': sdk}))\n"
)


def probe(cli: Cli, *args: str) -> tuple[int, list[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=cli.environ(), cwd=str(cli.home), timeout=60)
    line = [x for x in proc.stdout.splitlines() if x.startswith("PROBE ")]
    assert line, proc.stderr
    result = json.loads(line[-1][len("PROBE "):])
    return result["code"], result["sdk"], proc.stdout + proc.stderr


def write_config(home: Path) -> None:
    cfg = home / ".config" / "pgiam" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("".join(
        f'[services.s{i}]\nhost = "{HOST.format(i=i)}"\nuser = "app{i}"\ndbname = "app"\n\n'
        for i in range(SERVICES)
    ))


def snapshot(home: Path) -> dict[str, tuple[bytes, int]]:
    files = [home / ".pgpass", home / ".pg_service.conf", home / ".local" / "state" / "pgiam" / "state.json"]
    return {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}


def test_noop_refresh_and_status_import_no_aws_sdk(cli: Cli, isolated_env: Path) -> None:
    home = isolated_env
    write_config(home)
    cli.static_keys()
    # a first, real refresh writes the stanzas, the state and 10 pgpass entries (fresh tokens, their
    # hashes recorded: the next run owns them and reads their expiry from the tokens)
    r = cli("refresh")
    assert r.code == 0, r.err
    before = snapshot(home)

    code, sdk, out = probe(cli, "--verbose", "refresh")
    assert code == 0, out
    assert sdk == [], f"the no-op refresh imported {sdk}"
    assert out.count(": fresh") == SERVICES, out
    assert snapshot(home) == before, "the no-op refresh touched a file"

    code, sdk, out = probe(cli, "status")
    assert code == 0 and sdk == [], f"pgiam status imported {sdk}"
    assert out.count("fresh") >= SERVICES
    assert snapshot(home) == before


def test_the_probe_sees_botocore_when_it_is_used(cli: Cli, isolated_env: Path) -> None:
    """The detector itself works: a refresh that must resolve a profile imports botocore."""
    write_config(isolated_env)
    cli.static_keys()
    cli.env["AWS_PROFILE"] = "nosuchprofile"  # a profile: botocore's business, even with env keys
    _, sdk, _ = probe(cli, "refresh")
    assert "botocore" in sdk


def test_static_env_keys_need_no_botocore(cli: Cli, isolated_env: Path) -> None:
    """`pgiam token` with static env keys signs without importing botocore, and prints what the
    botocore chain would have signed (same access key in the credential scope)."""
    cli.static_keys()
    code, sdk, out = probe(cli, "token", "--hostname", HOST.format(i=0), "--username", "app")
    assert code == 0 and sdk == []
    assert f"X-Amz-Credential={TEST_KEY_ID}%2F" in out
