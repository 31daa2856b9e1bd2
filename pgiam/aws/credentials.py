"""AWS credentials through botocore's own chain, resolved once per profile per run.

botocore is imported here only, lazily: the no-op refresh path never gets this far.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pgiam.errors import CredentialsError


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None  # None, never "", when there is none
    expiry: datetime | None  # when these credentials stop working (None: long-lived keys)
    source: str  # botocore's name for the provider that supplied them (env, assume-role, sso, ...)
    profile: str | None


def _label(profile: str | None) -> str:
    return f"profile {profile!r}" if profile else "the default credential chain"


def _session(profile: str | None) -> Any:
    import logging

    import botocore.session

    from pgiam import notices

    notices.route_logging()
    # pgiam reports each failure once, in one line; botocore's own warnings would only repeat it
    logging.getLogger("botocore").setLevel(logging.ERROR)

    try:
        return botocore.session.Session(profile=profile)
    except Exception as e:
        raise _explain(e, profile) from None


class CredentialCache:
    """Credentials and region per profile, each resolved at most once per run."""

    def __init__(self) -> None:
        self._creds: dict[str | None, Credentials | CredentialsError] = {}
        self._sessions: dict[str | None, Any] = {}

    def session(self, profile: str | None) -> Any:
        if profile not in self._sessions:
            self._sessions[profile] = _session(profile)
        return self._sessions[profile]

    def region(self, profile: str | None) -> str | None:
        """AWS_REGION / AWS_DEFAULT_REGION, else the profile's configured region."""
        env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if env:
            return env
        try:
            region = self.session(profile).get_config_variable("region")
        except CredentialsError:
            raise
        except Exception as e:
            raise _explain(e, profile) from None
        return str(region) if region else None

    def get(self, profile: str | None) -> Credentials:
        cached = self._creds.get(profile)
        if cached is None:
            from pgiam.aws import envcreds  # static env keys: what botocore would return, without botocore

            cached = envcreds.load(profile)
            if cached is not None:
                self._creds[profile] = cached  # once per profile per run, like the botocore path
        if cached is None:
            try:
                cached = _resolve(self.session(profile), profile)
            except CredentialsError as e:
                cached = e
            self._creds[profile] = cached
        if isinstance(cached, CredentialsError):
            raise cached
        return cached


def _resolve(session: Any, profile: str | None) -> Credentials:
    try:
        creds = session.get_credentials()
        if creds is not None:
            _no_early_refresh(creds)
        frozen = creds.get_frozen_credentials() if creds is not None else None
    except Exception as e:
        raise _explain(e, profile) from None
    if creds is None or frozen is None or not frozen.access_key or not frozen.secret_key:
        raise CredentialsError(
            f"no AWS credentials found for {_label(profile)}: set AWS_PROFILE or `profile =` in the "
            "config, or run `aws configure`" + (f" / `aws sso login --profile {profile}`" if profile else "")
        )
    expiry = getattr(creds, "_expiry_time", None)
    if isinstance(expiry, datetime) and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=timezone.utc)
    return Credentials(
        access_key=frozen.access_key,
        secret_key=frozen.secret_key,
        session_token=frozen.token or None,
        expiry=expiry if isinstance(expiry, datetime) else None,
        source=str(getattr(creds, "method", "unknown")),
        profile=profile,
    )


def _no_early_refresh(creds: Any) -> None:
    """Use freshly loaded temporary credentials as they are until they actually expire.

    botocore refreshes credentials that expire within 10-15 minutes on every access, which would run
    a credential_process (or call STS) twice per run for short-lived credentials. pgiam caps each
    token's life at the credential expiry instead, so one load per profile per run is enough.
    """
    for attr in ("_advisory_refresh_timeout", "_mandatory_refresh_timeout"):
        if isinstance(getattr(creds, attr, None), int):
            setattr(creds, attr, 0)


def caller_identity(cache: CredentialCache, profile: str | None) -> tuple[str, str]:
    """(ARN, account) from STS GetCallerIdentity with the profile's credentials (network)."""
    from botocore.config import Config

    c = cache.get(profile)
    region = cache.region(profile) or "us-east-1"
    try:
        client = cache.session(profile).create_client(
            "sts", region_name=region, aws_access_key_id=c.access_key, aws_secret_access_key=c.secret_key,
            aws_session_token=c.session_token,
            config=Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2}),
        )
        out = client.get_caller_identity()
    except Exception as e:
        raise _explain(e, profile) from None
    return str(out.get("Arn", "")), str(out.get("Account", ""))


def _explain(e: Exception, profile: str | None) -> CredentialsError:
    """Turn a botocore exception into one line that names the profile and the likely fix."""
    name = type(e).__name__
    text = " ".join(str(e).split())
    who = _label(profile)
    p = profile or "default"
    if name == "ProfileNotFound":
        fix = (f"profile {p!r} is not in AWS_CONFIG_FILE/~/.aws/config; fix `profile =` or run "
               f"`aws configure --profile {p}`")
    elif name in ("UnauthorizedSSOTokenError", "TokenRetrievalError") or "sso" in name.lower():
        fix = f"the SSO session is missing or expired: run `aws sso login --profile {p}`"
    elif name == "NoRegionError":
        fix = f"set `region =` in profile {p!r} of the AWS config file, or AWS_DEFAULT_REGION (STS needs one)"
    elif name == "PartialCredentialsError" and "source_profile" in text:
        fix = (f"profile {p!r} names a role_arn but no source_profile (or credential_source): "
               "add `source_profile`")
    elif name == "PartialCredentialsError":
        fix = "set both the access key id and the secret access key"
    elif "still expired" in text or "expired" in name.lower():
        fix = (f"the credentials of profile {p!r} are already expired: renew them at their source "
               f"(`aws sso login --profile {p}`, the credential_process, or fresh keys)")
    elif name == "InvalidConfigError" and "source_profile" in text:
        fix = (f"profile {p!r} names a role_arn but its source_profile is missing or invalid: "
               "add `source_profile`")
    elif name == "InvalidConfigError":
        fix = f"fix profile {p!r} in the AWS config file"
    elif name in ("CredentialRetrievalError",) and "process" in text.lower():
        fix = "the profile's credential_process failed or printed invalid JSON: run it by hand to see why"
    elif name == "ClientError" or "AccessDenied" in text:
        fix = "STS refused the request: check the role's trust policy and your source credentials"
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                  "ConnectionClosedError"):
        fix = "could not reach the credential endpoint: check the network or the endpoint URL"
    else:
        fix = "check the profile with `aws sts get-caller-identity" + (f" --profile {p}`" if profile else "`")
    return CredentialsError(f"cannot get AWS credentials for {who}: {name}: {text[:300]} — {fix}")
