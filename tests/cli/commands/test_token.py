"""`pgiam token` against the aws CLI (RDS) and botocore's DSQL token functions, byte for byte, under
one faked clock; and its refusals."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cloud_stubs import hide_modules
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli

CLOCK = "2026-01-02 03:04:05"
SESSION = "IQoJb3JpZ2luX2VjE/long+token=="
RDS_HOSTS = [
    ("db1.abc123xyz.us-west-2.rds.amazonaws.com", "us-west-2"),
    ("mycluster.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com", "eu-west-1"),
    ("reporting.cluster-custom-c9akciq32.ap-southeast-2.rds.amazonaws.com", "ap-southeast-2"),
    ("readonly.endpoint.proxy-c9akciq32.us-east-1.rds.amazonaws.com", "us-east-1"),
    ("db1.c9akciq32.rds.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("db1.c9akciq32.us-gov-west-1.rds.amazonaws.com", "us-gov-west-1"),
]
DSQL_HOST = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"


def faked(cli: Cli, argv: list[str], session: str | None = SESSION, *,
          hide_crt: bool = False) -> subprocess.CompletedProcess[str]:
    """argv under the faked clock; hide_crt: as without botocore's crt support (pgiam[crt]), whose
    signer orders the query parameters differently (same signature)."""
    assert shutil.which("faketime"), "faketime is needed (apt-get install faketime)"
    extra = hide_modules(cli.home.parent / "nocrt", "awscrt") if hide_crt else {}
    env = cli.environ({"AWS_ACCESS_KEY_ID": TEST_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_SECRET, "TZ": "UTC",
                       **extra})
    if session is not None:
        env["AWS_SESSION_TOKEN"] = session
    return subprocess.run(
        ["faketime", "-f", CLOCK, *argv], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize("session", [SESSION, None], ids=["session", "keys"])
@pytest.mark.parametrize(("host", "region"), RDS_HOSTS, ids=[h.split(".")[1] + "-" + r for h, r in RDS_HOSTS])
def test_rds_matches_aws_cli(cli: Cli, host: str, region: str, session: str | None) -> None:
    aws = Path(sys.executable).with_name("aws")
    assert aws.exists(), "the test extra installs awscli"
    common = ["--hostname", host, "--port", "5432", "--username", "app_user"]
    theirs = faked(
        cli, [sys.executable, str(aws), "rds", "generate-db-auth-token", *common, "--region", region], session,
        hide_crt=True,
    )
    ours = faked(cli, [sys.executable, "-m", "pgiam", "token", *common], session)  # region from the host
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert f"%2F{region}%2Frds-db%2F" in ours.stdout and "X-Amz-Date=20260102T030405Z" in ours.stdout
    assert ours.stdout == theirs.stdout


BOTOCORE_DSQL = """
import sys, botocore.session
c = botocore.session.Session().create_client("dsql", region_name="us-east-1")
fn = c.generate_db_connect_admin_auth_token if sys.argv[1] == "admin" else c.generate_db_connect_auth_token
print(fn(sys.argv[2], "us-east-1", int(sys.argv[3])))
"""


def test_with_crt_the_aws_cli_signs_the_same_token_in_another_order(cli: Cli) -> None:
    """With awscrt installed (pgiam[crt]) botocore signs through the CRT: the same parameters and the same
    signature, the query in another order. Both are accepted; pgiam keeps the pure-botocore order."""
    from urllib.parse import parse_qsl

    aws = Path(sys.executable).with_name("aws")
    host, region = RDS_HOSTS[0]
    common = ["--hostname", host, "--port", "5432", "--username", "app_user"]
    crt = faked(cli, [sys.executable, str(aws), "rds", "generate-db-auth-token", *common, "--region", region])
    ours = faked(cli, [sys.executable, "-m", "pgiam", "token", *common])
    assert crt.returncode == 0 and ours.returncode == 0, crt.stderr + ours.stderr

    def split(token: str) -> tuple[str, dict[str, str]]:
        netloc, _, query = token.strip().partition("/?")
        return netloc, dict(parse_qsl(query))

    assert split(crt.stdout) == split(ours.stdout)


@pytest.mark.parametrize(("user", "expires"), [("admin", 900), ("app_reader", 900), ("admin", 604800)])
def test_dsql_matches_botocore(cli: Cli, user: str, expires: int) -> None:
    """awscli v1 has no `aws dsql generate-db-connect-*-auth-token`; botocore's functions are what
    awscli v2 and boto3 call, so pgiam is compared with them."""
    theirs = faked(cli, [sys.executable, "-c", BOTOCORE_DSQL, user, DSQL_HOST, str(expires)], hide_crt=True)
    argv = [
        sys.executable,
        "-m",
        "pgiam",
        "token",
        "--kind",
        "dsql",
        "--hostname",
        DSQL_HOST,
        "--username",
        user,
    ]
    if expires != 900:
        argv += ["--expires-in", str(expires)]
    ours = faked(cli, argv)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    action = "DbConnectAdmin" if user == "admin" else "DbConnect"
    assert (
        ours.stdout.startswith(f"{DSQL_HOST}/?Action={action}&")
        and f"X-Amz-Expires={expires}&" in ours.stdout
    )
    assert ours.stdout == theirs.stdout
    assert ours.stderr == ""  # no stanza notice from `token`


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hostname", "10.0.0.5", "--region", "us-east-1"], "is an IP address or localhost"),
        (["--hostname", "localhost", "--region", "us-east-1"], "is an IP address or localhost"),
        (["--hostname", "db.mycorp.example", "--region", "us-east-1"], "not an AWS endpoint name"),
        (["--hostname", "db1.abc.us-west-2.rds.amazonaws.com", "--region", "us-east-1"], "does not match"),
        (["--hostname", DSQL_HOST, "--kind", "rds"], "is a dsql endpoint"),
        (["--hostname", DSQL_HOST, "--expires-in", "604801"], "1 to 604800"),
        (["--hostname", "db1.abc.us-west-2.rds.amazonaws.com", "--expires-in", "60"], "live 900 seconds"),
    ],
)
def test_refusals(cli: Cli, args: list[str], message: str) -> None:
    cli.static_keys()
    r = cli("token", "--username", "u", *args)
    assert r.code == 2 and message in r.err and r.out == ""
    assert r.err.count("\n") == 1


def test_any_host_signs_for_it_anyway(cli: Cli) -> None:
    cli.static_keys()
    r = cli(
        "token", "--username", "u", "--hostname", "db.mycorp.example", "--region", "us-east-1", "--any-host"
    )
    assert r.code == 0 and r.out.startswith("db.mycorp.example:5432/?Action=connect&DBUser=u&"), r.err
    r = cli("token", "--username", "u", "--hostname", "db.mycorp.example", "--any-host")
    assert r.code == 2 and "region" in r.err
