"""Redshift providers through botocore against moto (GetClusterCredentials) and a local stub speaking
the real wire protocols for what moto lacks (GetClusterCredentialsWithIAM: query/XML;
Redshift Serverless GetCredentials: JSON 1.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

import pytest

from pgiam.config.model import Service
from pgiam.providers.base import Token
from tests.aws_stubs import LocalServer, Request, json_reply, local_server, moto_url  # noqa: F401
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.providers.test_contract import ProviderContract

REGION = "us-east-1"
WG_HOST = "analytics.123456789012.us-east-1.redshift-serverless.amazonaws.com"
STUB_PASSWORD = "stub-password:with/odd+chars=="


def stub_handler(user: str) -> Callable[[Request], tuple[int, str, bytes]]:
    """Answers GetClusterCredentialsWithIAM (query protocol) and GetCredentials (JSON) for `user`."""

    def handle(req: Request) -> tuple[int, str, bytes]:
        if f"Credential={TEST_KEY_ID}/" not in req.headers.get("authorization", ""):
            return json_reply({"__type": "UnrecognizedClientException", "message": "bad key"}, 403)
        expires = time.time() + 1800
        if req.headers.get("x-amz-target") == "RedshiftServerless.GetCredentials":
            body = json.loads(req.body)
            if body.get("workgroupName") != "analytics":
                return json_reply({"__type": "ResourceNotFoundException", "message": "no workgroup"}, 400)
            return json_reply(
                {
                    "dbUser": user,
                    "dbPassword": STUB_PASSWORD,
                    "expiration": expires,
                    "nextRefreshTime": expires,
                }
            )
        form = parse_qs(req.body.decode())
        assert form["Action"] == ["GetClusterCredentialsWithIAM"], form
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        xml = (
            '<GetClusterCredentialsWithIAMResponse xmlns="http://redshift.amazonaws.com/doc/2012-12-01/">'
            f"<GetClusterCredentialsWithIAMResult><DbUser>{user}</DbUser>"
            f"<DbPassword>{STUB_PASSWORD}</DbPassword><Expiration>{stamp}</Expiration>"
            "</GetClusterCredentialsWithIAMResult><ResponseMetadata><RequestId>1</RequestId>"
            "</ResponseMetadata></GetClusterCredentialsWithIAMResponse>"
        )
        return 200, "text/xml", xml.encode()

    return handle


@pytest.fixture
def cluster_host(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """A cluster in moto; returns its endpoint address (region and cluster id are in the name)."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_REDSHIFT", moto_url)
    client = boto3.client(
        "redshift",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=TEST_KEY_ID,
        aws_secret_access_key=TEST_SECRET,
    )
    existing = {c["ClusterIdentifier"] for c in client.describe_clusters()["Clusters"]}
    if "warehouse" not in existing:
        client.create_cluster(
            ClusterIdentifier="warehouse",
            NodeType="dc2.large",
            MasterUsername="admin",
            MasterUserPassword="Passw0rd1",
            ClusterType="single-node",
        )
    return str(client.describe_clusters(ClusterIdentifier="warehouse")["Clusters"][0]["Endpoint"]["Address"])


@pytest.fixture
def stub(local_server: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:  # noqa: F811
    server = local_server(stub_handler("IAMR:analyst"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS", server.url)
    yield server


class TestRedshiftContract(ProviderContract):
    caps_at_credential_expiry = False  # the password lives until its own Expiration
    max_lifetime = 900

    @pytest.fixture(params=[False, True], ids=["iam", "auto_create"])
    def svc(self, cluster_host: str, request: pytest.FixtureRequest) -> Service:
        return Service(
            name="rs",
            host=cluster_host,
            user="alice",
            port=5439,
            kind="redshift",
            region=REGION,
            dbname="dev",
            auto_create=request.param,
            db_groups=("analysts",),
        )

    def accepts(self, token: Token, svc: Service) -> None:
        assert len(token.value) == 32  # moto's password
        assert token.user == ("IAMA:alice" if svc.auto_create else "IAM:alice")


class TestServerlessContract(ProviderContract):
    caps_at_credential_expiry = False
    max_lifetime = 1800

    @pytest.fixture
    def svc(self, stub: LocalServer) -> Service:
        return Service(
            name="wg",
            host=WG_HOST,
            user="IAMR:analyst",
            port=5439,
            kind="redshift-serverless",
            region=REGION,
            dbname="dev",
        )

    def accepts(self, token: Token, svc: Service) -> None:
        assert token.value == STUB_PASSWORD and token.user == "IAMR:analyst"


def config(home: Path, body: str) -> None:
    path = home / ".config" / "pgiam" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


def test_provisioned_through_the_cli(cli: Cli, isolated_env: Path, cluster_host: str, moto_url: str) -> None:  # noqa: F811
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.2"
    config(
        isolated_env,
        f'[services.rs]\nhost = "{cluster_host}"\nuser = "alice"\n'
        'db_groups = ["analysts"]\ntoken_lifetime = 1800\n',
    )
    r = cli("refresh")
    assert r.code == 0, r.err
    line = (isolated_env / ".pgpass").read_text()
    # the user Redshift returns, with its ':' escaped; default port 5439 and database dev
    assert line.startswith(f"{cluster_host}:5439:dev:IAM\\:alice:")
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert "\nport=5439\ndbname=dev\nuser=IAM:alice\n" in stanza
    rows = json.loads(cli("status", "--json").out)
    assert rows[0]["state"] == "fresh" and rows[0]["user"] == "IAM:alice"
    assert cli("refresh").out == ""  # no-op while the password is fresh
    # pgiam token --kind redshift prints the password alone
    r = cli("token", "--kind", "redshift", "--hostname", cluster_host, "--username", "alice")
    assert r.code == 0 and len(r.out.strip()) == 32, r.err


def test_unknown_cluster_is_explained(cli: Cli, isolated_env: Path, cluster_host: str) -> None:
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.2"
    config(
        isolated_env,
        f'[services.rs]\nhost = "{cluster_host}"\nuser = "alice"\ncluster_identifier = "nosuch"\n',
    )
    r = cli("refresh")
    assert r.code == 1 and "'nosuch'" in r.err and "GetClusterCredentials" in r.err
    assert not (isolated_env / ".pgpass").exists()


def test_with_iam_and_serverless_through_the_cli(
    cli: Cli, isolated_env: Path, stub: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.2"
    cli.env["AWS_ENDPOINT_URL_REDSHIFT"] = stub.url
    cluster = "warehouse.c0ffee12.eu-central-1.redshift.amazonaws.com"
    config(
        isolated_env,
        f'[services.rsiam]\nhost = "{cluster}"\nuser = "IAMR:analyst"\n'
        f'[services.wg]\nhost = "{WG_HOST}"\nuser = "IAMR:analyst"\n',
    )
    r = cli("refresh")
    assert r.code == 0, r.err
    data = (isolated_env / ".pgpass").read_text()
    escaped = STUB_PASSWORD.replace(":", "\\:")
    assert f"{cluster}:5439:dev:IAMR\\:analyst:{escaped}\n" in data
    assert f"{WG_HOST}:5439:dev:IAMR\\:analyst:{escaped}\n" in data
    form = parse_qs(stub.requests[0].body.decode())
    assert form["ClusterIdentifier"] == ["warehouse"] and form["DbName"] == ["dev"]
    assert "eu-central-1/redshift/aws4_request" in stub.requests[0].headers["authorization"]
    wg_request = next(q for q in stub.requests if q.headers.get("x-amz-target"))
    assert json.loads(wg_request.body) == {
        "workgroupName": "analytics",
        "durationSeconds": 900,
        "dbName": "dev",
    }
    r = cli("token", "--hostname", WG_HOST, "--username", "IAMR:analyst")
    assert r.code == 0 and r.out.strip() == STUB_PASSWORD


def test_user_mismatch_names_the_right_user(cli: Cli, isolated_env: Path, stub: LocalServer) -> None:
    cli.static_keys()
    cli.env["PGIAM_LIBPQ_VERSION"] = "16.2"
    config(isolated_env, f'[services.wg]\nhost = "{WG_HOST}"\nuser = "alice"\n')
    r = cli("refresh")
    assert r.code == 1 and 'set `user = "IAMR:analyst"`' in r.err
    assert not (isolated_env / ".pgpass").exists()


def test_config_rules(cli: Cli, isolated_env: Path) -> None:
    config(isolated_env, f'[services.wg]\nhost = "{WG_HOST}"\nuser = "IAMR:a"\ndb_groups = ["x"]\n')
    r = cli("refresh")
    assert r.code == 1 and "db_groups" in r.err
    config(isolated_env, f'[services.wg]\nhost = "{WG_HOST}"\nuser = "IAMR:a"\ntoken_lifetime = 600\n')
    r = cli("refresh")
    assert r.code == 1 and "900 to 3600" in r.err
