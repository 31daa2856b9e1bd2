"""Static credentials from the environment, read without importing botocore.

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

from __future__ import annotations

import os
from collections.abc import Mapping

from pgiam.aws.credentials import Credentials

SOURCE = "env"  # botocore's EnvProvider.METHOD, so status shows the same source either way


def load(profile: str | None, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The env credentials botocore's default chain would return, or None to ask botocore."""
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
        source=SOURCE, profile=None,
    )
