"""Local stand-ins for the other clouds' identity endpoints, all on 127.0.0.1 or on PATH:

* ``az``: an executable that prints what ``az account get-access-token --output json`` prints, for
  azure-identity's AzureCliCredential (inside DefaultAzureCredential). It records every token it issues,
  with the Entra principal it stands for, in a JSON-lines file the rig's verifier reads.
* a Google OAuth token endpoint (``token_uri`` of an ADC file): refresh-token grants (authorized_user)
  and JWT-bearer grants (service_account), each token recorded with the account it was issued for.
* an AWS Sign-In stand-in (``AWS_ENDPOINT_URL_SIGNIN``) answering botocore's CreateOAuth2Token refresh
  of an `aws login` session.

Tokens are random; the stand-ins keep only their SHA-256 in files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

from tests.aws_stubs import LocalServer, Reply, Request, json_reply

AZURE_RESOURCE = "https://ossrdbms-aad.database.windows.net"
SQL_SCOPE = "https://www.googleapis.com/auth/sqlservice.login"
ALLOYDB_SCOPE = "https://www.googleapis.com/auth/alloydb.login"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def record(path: Path, token: str, role: str, exp: float) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"sha256": hashlib.sha256(token.encode()).hexdigest(), "role": role, "exp": exp}) + "\n")


def issued(path: Path) -> list[dict[str, object]]:
    """What a stand-in recorded: sha256, role, exp per token."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- az


@dataclass
class FakeAz:
    """An `az` executable in `bindir` (put it first on PATH) standing for the Entra principal `principal`."""

    bindir: Path
    ledger: Path  # where issued tokens are recorded (the rig's bearer_file in the e2e tests)
    principal: str = "alice@contoso.example"
    lifetime: int = 3600
    logged_in: bool = True
    calls: Path = field(init=False)

    def __post_init__(self) -> None:
        self.bindir.mkdir(parents=True, exist_ok=True)
        self.calls = self.bindir / "az-calls.jsonl"
        self.write()

    @property
    def path(self) -> Path:
        return self.bindir / "az"

    def write(self) -> None:
        config = {"ledger": str(self.ledger), "principal": self.principal, "lifetime": self.lifetime,
                  "logged_in": self.logged_in, "calls": str(self.calls)}
        script = textwrap.dedent(f"""\
            #!{sys.executable}
            # stand-in for the Azure CLI: only `az account get-access-token --output json --resource R`
            import base64, datetime, hashlib, json, secrets, sys, time
            cfg = json.loads({json.dumps(json.dumps(config))})
            with open(cfg["calls"], "a") as fh:
                fh.write(json.dumps(sys.argv[1:]) + "\\n")
            if not cfg["logged_in"]:
                sys.stderr.write("ERROR: Please run 'az login' to setup account.\\n")
                sys.exit(1)
            args = sys.argv[1:]
            if args[:2] != ["account", "get-access-token"] or "--resource" not in args:
                sys.stderr.write("ERROR: unsupported by the stand-in\\n")
                sys.exit(2)
            exp = int(time.time()) + cfg["lifetime"]
            claims = {{"aud": args[args.index("--resource") + 1], "upn": cfg["principal"], "exp": exp}}
            enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
            token = ".".join([enc(b'{{"typ":"JWT","alg":"RS256"}}'), enc(json.dumps(claims).encode()),
                              enc(secrets.token_bytes(32))])
            with open(cfg["ledger"], "a") as fh:
                fh.write(json.dumps({{"sha256": hashlib.sha256(token.encode()).hexdigest(),
                                     "role": cfg["principal"], "exp": exp}}) + "\\n")
            local = datetime.datetime.fromtimestamp(exp).strftime("%Y-%m-%d %H:%M:%S.%f")
            print(json.dumps({{"accessToken": token, "expiresOn": local, "expires_on": exp,
                              "subscription": "00000000-0000-0000-0000-000000000000",
                              "tenant": "11111111-1111-1111-1111-111111111111", "tokenType": "Bearer"}},
                             indent=2))
            """)
        self.path.write_text(script)
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def argv_seen(self) -> list[list[str]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines()]

    def env(self) -> dict[str, str]:
        """PATH with this `az` first (and nothing else Azure-ish)."""
        return {"PATH": f"{self.bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}


# --------------------------------------------------------------------------- Google


@dataclass
class GoogleTokenEndpoint:
    """The OAuth token endpoint of an ADC file. `accounts` maps a refresh token to the account email it
    stands for; service accounts are known by the `iss` of their JWT assertion."""

    ledger: Path
    accounts: dict[str, str] = field(default_factory=dict)
    lifetime: int = 3599
    on_issue: Callable[[str, str, float], None] | None = None  # (token, role, exp), e.g. rig.accept_bearer
    scopes_seen: list[str] = field(default_factory=list)
    server: LocalServer | None = None

    def start(self) -> GoogleTokenEndpoint:
        self.server = LocalServer(self.handle).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def token_uri(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/token"

    def handle(self, req: Request) -> Reply:
        if req.method != "POST" or not req.path.startswith("/token"):
            return json_reply({"error": "not_found"}, 404)
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            email = self.accounts.get(form.get("refresh_token", ""))
            if email is None:
                return json_reply({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
            role = email
            self.scopes_seen.append(form.get("scope", ""))
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = json.loads(base64.urlsafe_b64decode(form["assertion"].split(".")[1] + "=="))
            except (KeyError, IndexError, ValueError):
                return json_reply({"error": "invalid_grant"}, 400)
            self.scopes_seen.append(str(claims.get("scope", "")))
            iss = str(claims.get("iss", ""))
            role = iss[: -len(".gserviceaccount.com")] if iss.endswith(".gserviceaccount.com") else iss
        elif grant == "urn:ietf:params:oauth:grant-type:token-exchange":  # STS, for external_account
            email = self.accounts.get(form.get("subject_token", ""))
            if email is None:
                return json_reply({"error": "invalid_grant", "error_description": "unknown subject"}, 400)
            role = email
            self.scopes_seen.append(form.get("scope", ""))
        else:
            return json_reply({"error": "unsupported_grant_type"}, 400)
        token = "ya29.stand-in." + b64url(secrets.token_bytes(48))
        exp = time.time() + self.lifetime
        record(self.ledger, token, role, exp)
        if self.on_issue is not None:
            self.on_issue(token, role, exp)
        return json_reply({"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer",
                           "scope": self.scopes_seen[-1],
                           "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})


def authorized_user_adc(path: Path, token_uri: str, refresh_token: str) -> Path:
    """An ADC file like `gcloud auth application-default login` writes, with a local token_uri."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "type": "authorized_user", "client_id": "stand-in.apps.example", "client_secret": "not-a-secret",
        "refresh_token": refresh_token, "token_uri": token_uri,
    }))
    return path


def external_account_adc(path: Path, token_url: str, subject_token: str) -> Path:
    """A workload-identity-federation ADC file: the subject token comes from a file, the STS exchange goes to
    the local endpoint (no service-account impersonation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subject = path.with_suffix(".subject")
    subject.write_text(subject_token)
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/q",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": token_url,
        "credential_source": {"file": str(subject)},
    }))
    return path


def service_account_adc(path: Path, token_uri: str, email: str) -> Path:
    """A service-account key file (throwaway RSA key) whose token_uri is the local endpoint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "stand-in-project", "private_key_id": "0" * 40,
        "private_key": pem, "client_email": email, "client_id": "1" * 21, "token_uri": token_uri,
    }))
    return path


# --------------------------------------------------------------------------- AWS Sign-In (aws login)


def login_cache_file(cache_dir: Path, session: str) -> Path:
    """Where botocore looks for a login session's cached token (sha256 of the session name)."""
    return cache_dir / f"{hashlib.sha256(session.encode()).hexdigest()}.json"


def write_login_session(cache_dir: Path, session: str, *, access_key: str, secret: str, session_token: str,
                        expires_at: str, account: str = "123456789012") -> Path:
    """The cached token `aws login` leaves behind (throwaway P-256 DPoP key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = login_cache_file(cache_dir, session)
    path.write_text(json.dumps({
        "accessToken": {"accessKeyId": access_key, "secretAccessKey": secret, "sessionToken": session_token,
                        "accountId": account, "expiresAt": expires_at},
        "refreshToken": "stand-in-refresh-token", "dpopKey": pem,
        "clientId": "arn:aws:signin:::devtools/same-device", "tokenType": "aws_sigv4",
    }))
    path.chmod(0o600)
    return path


@dataclass
class SigninEndpoint:
    """CreateOAuth2Token (POST /v1/token, rest-json): a refresh grant returns new keys, and the request
    must carry a DPoP proof (the ES256 JWT botocore signs with awscrt)."""

    access_key: str
    secret: str
    session_token: str
    expires_in: int = 900
    dpop_seen: list[str] = field(default_factory=list)
    server: LocalServer | None = None

    def start(self) -> SigninEndpoint:
        self.server = LocalServer(self.handle).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def handle(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != "/v1/token":
            return json_reply({"error": "NOT_FOUND", "message": req.path}, 404)
        body = json.loads(req.body or b"{}")
        dpop = req.headers.get("dpop", "")
        header = json.loads(base64.urlsafe_b64decode(dpop.split(".")[0] + "==")) if dpop.count(".") == 2 else {}
        if header.get("typ") != "dpop+jwt" or body.get("grantType") != "refresh_token":
            return json_reply({"error": "INVALID_REQUEST", "message": "missing DPoP or grant"}, 400)
        self.dpop_seen.append(dpop)
        return json_reply({
            "accessToken": {"accessKeyId": self.access_key, "secretAccessKey": self.secret,
                            "sessionToken": self.session_token},
            "tokenType": "aws_sigv4", "expiresIn": self.expires_in, "refreshToken": "stand-in-refresh-2",
        })


# --------------------------------------------------------------------------- hiding an installed extra


def hide_modules(shim_dir: Path, *modules: str) -> dict[str, str]:
    """A sitecustomize that makes importing these top-level packages (or sub-packages) fail as if the pip
    extra were not installed. Returns the env (PYTHONPATH) for the `cli` fixture."""
    shim_dir.mkdir(parents=True, exist_ok=True)
    (shim_dir / "sitecustomize.py").write_text(textwrap.dedent(f"""\
        import sys

        HIDDEN = {tuple(modules)!r}


        class _Hide:
            def find_spec(self, name, path=None, target=None):
                if any(name == m or name.startswith(m + ".") for m in HIDDEN):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None


        sys.meta_path.insert(0, _Hide())
        """))
    return {"PYTHONPATH": str(shim_dir)}
