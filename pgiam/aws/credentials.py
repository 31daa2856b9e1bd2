"""AWS credentials through botocore's own chain, resolved once per profile per run.

botocore is imported here only, lazily: the no-op refresh path never gets this far.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from pgiam.errors import CredentialsError


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None  # None, never "", when there is none
    expiry: datetime | None  # when these credentials stop working (None: long-lived keys)
    source: str  # botocore's name for the provider that supplied them (env, assume-role, sso, ...)
    profile: str | None


ENV_SOURCE = "env"  # botocore's EnvProvider.METHOD, so status shows the same source either way


def env_credentials(profile: str | None, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Static credentials from the environment, read without importing botocore: the env credentials
    botocore's default chain would return, or None to ask botocore.

    botocore's default chain puts its EnvProvider first, and only removes it when a profile is passed
    to the Session explicitly. So when pgiam asks for the default chain (no profile in the config), no
    AWS_PROFILE / AWS_DEFAULT_PROFILE is set (not even empty), and AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY are both non-empty, botocore would return exactly these values: access key,
    secret key, and as session token AWS_SECURITY_TOKEN, else AWS_SESSION_TOKEN (botocore's order), no
    expiry, method "env".

    Every other case goes to botocore: a profile (config or env: botocore then also loads the config file
    and may raise ProfileNotFound), AWS_CREDENTIAL_EXPIRATION (refreshable credentials, a date botocore
    parses), or only one of the two keys (botocore's PartialCredentialsError names the missing one).

    One deliberate difference: this path never reads ~/.aws/config, so a malformed config file that
    would make botocore fail before it looks at the environment does not stop pgiam here.
    """
    env = os.environ if environ is None else environ
    # even an empty AWS_PROFILE makes botocore look the profile up (and fail): leave that to it
    if profile is not None or "AWS_PROFILE" in env or "AWS_DEFAULT_PROFILE" in env:
        return None
    if env.get("AWS_CREDENTIAL_EXPIRATION"):
        return None
    access_key = env.get("AWS_ACCESS_KEY_ID", "")
    secret_key = env.get("AWS_SECRET_ACCESS_KEY", "")
    if not access_key or not secret_key:
        return None
    token = env.get("AWS_SECURITY_TOKEN", "") or env.get("AWS_SESSION_TOKEN", "")
    return Credentials(
        access_key=access_key, secret_key=secret_key, session_token=token or None, expiry=None,
        source=ENV_SOURCE, profile=None,
    )


def env_profile() -> tuple[str, str] | None:
    """(variable, profile) when the environment picks the default chain's profile (AWS_PROFILE wins)."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        value = os.environ.get(var)
        if value:
            return var, value
    return None


def _label(profile: str | None) -> str:
    if profile:
        return f"profile {profile!r}"
    picked = env_profile()
    if picked is not None:
        return f"profile {picked[1]!r} (from {picked[0]} in the environment)"
    return "the default credential chain"


def _session(profile: str | None) -> Any:
    import logging

    import botocore.session

    from pgiam import output

    output.route_logging()
    # pgiam reports each failure once, in one line; botocore's own warnings would only repeat it
    logging.getLogger("botocore").setLevel(logging.ERROR)

    try:
        return botocore.session.Session(profile=profile)
    except Exception as e:
        raise _explain(e, profile) from None


DEFAULT_TIMEOUT = 30.0  # seconds per profile (config: [defaults] credential_timeout)
_T = TypeVar("_T")


class _ChildTracker:
    """While active, every credential_process botocore starts runs in its own process group and is
    remembered, so that a resolution past its deadline can be stopped with its whole group.

    botocore starts credential_process with ``ProcessProvider(popen=subprocess.Popen)``, the default
    bound when the class was defined; the providers are built lazily inside get_credentials(), so
    swapping that default for the duration of one resolution reaches every ProcessProvider it builds
    (including those of a role's source_profile).
    """

    def __init__(self) -> None:
        self.children: list[Any] = []
        self._saved: tuple[Any, ...] | None = None
        self._func: Any = None

    def popen(self, *args: Any, **kwargs: Any) -> Any:
        import subprocess

        if os.name != "nt":
            kwargs.setdefault("start_new_session", True)
        p = subprocess.Popen(*args, **kwargs)
        self.children.append(p)
        return p

    def __enter__(self) -> _ChildTracker:
        try:
            from botocore.credentials import ProcessProvider

            func = ProcessProvider.__init__
            defaults = func.__defaults__
            if defaults and len(defaults) == 1:
                self._func, self._saved = func, defaults
                func.__defaults__ = (self.popen,)
        except (ImportError, AttributeError):  # pragma: no cover - another botocore: deadline without kill
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._func is not None:
            self._func.__defaults__ = self._saved
            self._func = None

    def kill(self) -> None:
        import signal

        for p in self.children:
            try:
                if os.name != "nt":
                    os.killpg(p.pid, signal.SIGKILL)  # the child and whatever it started
                else:  # pragma: no cover - Windows
                    p.kill()
            except OSError:
                pass  # (already gone; the worker thread's communicate() reaps it)


def _with_deadline(fn: Callable[[], _T], timeout: float | None, profile: str | None) -> _T:
    """Run ``fn`` (a credential resolution) with a deadline; past it, stop the children it started and
    raise CredentialsError naming the profile."""
    if not timeout:
        return fn()
    import threading

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["ok"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["err"] = e

    with _ChildTracker() as tracker:
        worker = threading.Thread(target=work, name="pgiam-credentials", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            tracker.kill()
            what = "its credential_process was stopped" if tracker.children else "it was abandoned"
            raise CredentialsError(
                f"cannot get AWS credentials for {_label(profile)}: no answer within {timeout:g} s "
                f"(credential_timeout); {what} — run it by hand to see why it hangs, or raise "
                "credential_timeout in [defaults] of the pgiam config"
            )
    if "err" in box:
        raise box["err"]
    return box["ok"]  # type: ignore[no-any-return]


class CredentialCache:
    """Credentials and region per profile, each resolved at most once per run, within ``timeout``
    seconds per profile (None: no deadline)."""

    def __init__(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self._creds: dict[str | None, Credentials | CredentialsError] = {}
        self._sessions: dict[str | None, Any] = {}
        self._timeout = timeout

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
            cached = env_credentials(profile)  # static env keys: what botocore would return, without it
            if cached is not None:
                self._creds[profile] = cached  # once per profile per run, like the botocore path
        if cached is None:
            try:
                session = self.session(profile)
                cached = _with_deadline(lambda: _resolve(session, profile), self._timeout, profile)
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
        name = type(e).__name__
        if name in _UNREACHABLE:
            # the credentials are there (cache.get succeeded); only the STS call could not be made
            text = " ".join(str(e).split())
            raise CredentialsError(
                f"{_label(profile)} has credentials ({c.source}), but STS is unreachable: {name}: {text[:200]} "
                "— check the network, proxy or AWS_ENDPOINT_URL_STS; signing tokens itself needs no network"
            ) from None
        raise _explain(e, profile) from None
    return str(out.get("Arn", "")), str(out.get("Account", ""))


_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                "ProxyConnectionError", "SSLError", "HTTPClientError")


def _explain(e: Exception, profile: str | None) -> CredentialsError:
    """Turn a botocore exception into one line that names the profile and the likely fix."""
    name = type(e).__name__
    text = " ".join(str(e).split())
    who = _label(profile)
    picked = None if profile else env_profile()
    p = profile or (picked[1] if picked else "default")
    if name == "MissingDependencyException" and "crt" in text:
        # botocore serves `aws login` (login_session) profiles only with its crt extra (awscrt)
        return CredentialsError(
            f"cannot get AWS credentials for {who}: its `aws login` session needs botocore's crt support, "
            "which is not installed: pip install 'pgiam[crt]'"
        )
    if name in ("LoginTokenLoadError", "LoginRefreshRequired", "LoginError", "LoginInsufficientPermissions"):
        return CredentialsError(
            f"cannot get AWS credentials for {who}: {name}: {text[:300]} — run `aws login --profile {p}`"
        )
    if name == "ProfileNotFound" and picked is not None:
        fix = (f"{picked[0]}={picked[1]} is set in this environment, but there is no profile {p!r} in "
               f"AWS_CONFIG_FILE/~/.aws/config: unset {picked[0]} or correct it (or run "
               f"`aws configure --profile {p}`)")
    elif name == "ProfileNotFound":
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
