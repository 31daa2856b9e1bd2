"""The Kubernetes sidecar's credentials, end to end: IRSA (web identity against moto's STS) and EKS Pod
Identity (a container-credentials endpoint with an authorization token file), both on 127.0.0.1,
through botocore's real default chain. The sidecar loop (`pgiam refresh --every`) runs as in the pod
(PGIAM_CONFIG, PGPASSFILE, PGSERVICEFILE, PGIAM_STATE into one private directory, the emptyDir), and
the app side is the real `psql service=NAME` with only PGPASSFILE/PGSERVICEFILE, checked by the
IAM-verifying PostgreSQL rig."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.aws_stubs import (  # noqa: F401 - fixtures
    LocalServer,
    Request,
    iso_in,
    json_reply,
    local_server,
    moto_secret_lookup,
    moto_url,
)
from tests.conftest import Cli
from tests.e2e_helpers import psql_service
from tests.pg.rig import Rig

pytestmark = pytest.mark.pg

ROLE_ARN = "arn:aws:iam::123456789012:role/app-db-connect"


def pod(rig: Rig, tmp_path: Path, user: str) -> tuple[Path, dict[str, str]]:
    """The emptyDir and the sidecar's environment (the Deployment's env entries)."""
    run = tmp_path / "run-pgiam"
    run.mkdir(mode=0o700)
    cfg = tmp_path / "etc-pgiam" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        f'[defaults]\nregion = "us-west-2"\n\n[services.prod]\nhost = "{rig.host}"\nport = {rig.signed_port}\n'
        f'user = "{user}"\ndbname = "postgres"\nhostaddr = "{rig.hostaddr}"\nlocal_port = {rig.port}\n'
        f'sslrootcert = "{rig.ca_file}"\n'
    )
    env = {"PGIAM_CONFIG": str(cfg), "PGPASSFILE": str(run / "pgpass"),
           "PGSERVICEFILE": str(run / "pg_service.conf"), "PGIAM_STATE": str(run / "state.json")}
    return run, env


def sidecar_cycle(cli: Cli, env: dict[str, str], run: Path, tmp_path: Path) -> str:
    """Start `pgiam refresh --every 5m`, wait for its first pass, stop it with SIGTERM; its stdout."""
    out, err = tmp_path / "sidecar.out", tmp_path / "sidecar.err"
    proc = subprocess.Popen([sys.executable, "-m", "pgiam", "refresh", "--every", "5m"],
                            stdout=out.open("wb"), stderr=err.open("wb"), env=cli.environ(env), cwd="/")
    try:
        deadline = time.monotonic() + 60
        while "prod: refreshed" not in out.read_text():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        assert (run / "pgpass").stat().st_mode & 0o777 == 0o600
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert err.read_text() == ""
        return out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def app_connects(rig: Rig, env: dict[str, str], user: str) -> None:
    """The app container: only PGPASSFILE and PGSERVICEFILE (no AWS anything), `service=prod`."""
    app_env = {"PGPASSFILE": env["PGPASSFILE"], "PGSERVICEFILE": env["PGSERVICEFILE"]}
    p = psql_service(rig, Path("/nonexistent-home"), "prod", env=app_env)
    assert p.returncode == 0 and p.stdout.strip() == user, p.stderr
    assert rig.verifier_events()[-1].accepted


def test_irsa_web_identity_sidecar(rig: Rig, cli: Cli, tmp_path: Path, moto_url: str) -> None:  # noqa: F811
    rig.create_role("app_irsa")
    rig.secret_lookup = moto_secret_lookup
    run, env = pod(rig, tmp_path, "app_irsa")
    jwt = tmp_path / "eks.amazonaws.com" / "serviceaccount" / "token"
    jwt.parent.mkdir(parents=True)
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwOmFwcC1kYiJ9.c2ln")
    env.update(AWS_ROLE_ARN=ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE=str(jwt), AWS_ENDPOINT_URL_STS=moto_url,
               AWS_STS_REGIONAL_ENDPOINTS="regional")
    out = sidecar_cycle(cli, env, run, tmp_path)
    assert out.count("\n") == 1
    app_connects(rig, env, "app_irsa")
    token = (run / "pgpass").read_text().split(":", 4)[4]
    assert "X-Amz-Security-Token" in token and "ASIA" in token  # STS-issued, not a static key


def test_eks_pod_identity_sidecar(
    rig: Rig, cli: Cli, tmp_path: Path, local_server: Callable[..., LocalServer]  # noqa: F811
) -> None:
    rig.create_role("app_podid")
    akid, secret, session = "ASIAPODIDENTITY00001", "pod-identity-secret", "pod-identity-session"
    rig.register_credentials(akid, secret, session)
    auth = tmp_path / "eks-pod-identity-token"
    auth.write_text("pod-identity-authorization-jwt")

    def agent(req: Request) -> tuple[int, str, bytes]:
        if req.headers.get("authorization") != "pod-identity-authorization-jwt":
            return json_reply({"message": "denied"}, 403)
        return json_reply({"AccessKeyId": akid, "SecretAccessKey": secret, "Token": session,
                           "Expiration": iso_in(3600)})

    server = local_server(agent)
    run, env = pod(rig, tmp_path, "app_podid")
    env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=server.url + "/v1/credentials",
               AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(auth))
    sidecar_cycle(cli, env, run, tmp_path)
    assert [r.path for r in server.requests] == ["/v1/credentials"]
    app_connects(rig, env, "app_podid")
    assert akid in (run / "pgpass").read_text()
