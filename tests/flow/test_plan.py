"""The planner: how a stored token is classified (fresh means usable), and how outcomes become an exit code."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgiam.aws import rds
from pgiam.aws.tokeninfo import iso
from pgiam.config.model import Service, build_services
from pgiam.errors import PgiamError
from pgiam.flow import state
from pgiam.flow.desired import db_user, pgpass_key, stanza_params
from pgiam.flow.lifecycle import Action, Outcome, exit_code
from pgiam.flow.plan import Actual, Health, Verdict, inspect, key_id
from pgiam.flow.plan import token_expiry as _token_expiry
from pgiam.libpq import pgpass, servicefile
from tests.conftest import TEST_KEY_ID, TEST_SECRET

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def service(**kw: object) -> Service:
    body = {"host": HOST, "user": "alice", **kw}
    return build_services([(Path("c.toml"), {"services": {"prod": body}})])["prod"]


SVC = service()


def sign(at: datetime, host: str = HOST, port: int = 5432, user: str = "alice") -> str:
    return rds.sign(host=host, port=port, region="us-west-2", user=user, access_key=TEST_KEY_ID,
                    secret_key=TEST_SECRET, session_token=None, now=at)


FRESH, EXPIRING, EXPIRED, MISSING = Health.FRESH, Health.EXPIRING, Health.EXPIRED, Health.MISSING


def stored(svc: Service, token: str, other: bytes = b"other:5432:*:bob:pw\n") -> bytes:
    return pgpass.upsert(other, pgpass_key(svc, db_user(svc)), token)


def token_expiry(token: str, svc: Service, saved: state.ServiceState | None) -> tuple[datetime | None, str]:
    return _token_expiry(token, svc, saved, NOW)


def current(svc: Service, data: bytes | None, saved: state.ServiceState | None, now: datetime,
            services: bytes = b"") -> Verdict:
    """The verdict for a pgpass text whose lines pgiam wrote (their hashes recorded as owned)."""
    st = state.State()
    found = pgpass.find(data or b"", pgpass_key(svc))
    if found is not None:
        st.entries["p"] = {key_id(pgpass_key(svc)): state.EntryRecord(hashes=[state.token_hash(found[1])])}
    if saved is not None:
        st.services[svc.name] = saved
    act = Actual(pgpass=data or b"", services=services, state=st, pgpass_id="p", service_id="s", config_id="c")
    return inspect(svc, act, now, passfile=None, bundle=None, force=False)


def test_token_expiry_is_what_the_token_says() -> None:
    assert token_expiry(sign(NOW), SVC, None) == (NOW + timedelta(seconds=900), "")


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (sign(NOW, host="db2.abc123xyz.us-west-2.rds.amazonaws.com"), "token is signed for db2."),
        (sign(NOW, port=5433), f"token is signed for {HOST}:5433, not {HOST}:5432"),
        (sign(NOW, user="bob"), "token is for user 'bob', not 'alice'"),
        ("a-static-password", "the stored password's expiry is unknown"),
    ],
    ids=["other-host", "other-port", "other-user", "not-a-token"],
)
def test_untrusted_tokens_have_no_expiry(token: str, why: str) -> None:
    expires, reason = token_expiry(token, SVC, None)
    assert expires is None and reason.startswith(why)


def test_host_comparison_ignores_case() -> None:
    assert token_expiry(sign(NOW, host=HOST.upper()), SVC, None)[0] == NOW + timedelta(seconds=900)


def test_token_for_the_signing_host_and_endpoint_port_is_trusted() -> None:
    tunnel = service(hostaddr="127.0.0.1", local_port=15432)  # dialled port differs, signed port does not
    assert token_expiry(sign(NOW), tunnel, None)[0] == NOW + timedelta(seconds=900)


def test_recorded_credential_expiry_caps_the_token() -> None:
    token = sign(NOW)
    cap = NOW + timedelta(seconds=400)
    saved = state.ServiceState(token_sha256=state.token_hash(token), expires_at=iso(cap))
    assert token_expiry(token, SVC, saved) == (cap, "")
    later = state.ServiceState(token_sha256=state.token_hash(token), expires_at=iso(NOW + timedelta(hours=5)))
    assert token_expiry(token, SVC, later)[0] == NOW + timedelta(seconds=900)  # a cap only lowers
    other = state.ServiceState(token_sha256=state.token_hash("another token"), expires_at=iso(cap))
    assert token_expiry(token, SVC, other)[0] == NOW + timedelta(seconds=900)  # recorded for another token
    junk = state.ServiceState(token_sha256=state.token_hash(token), expires_at="tomorrow")
    assert token_expiry(token, SVC, junk)[0] == NOW + timedelta(seconds=900)


def test_recorded_expiry_makes_a_password_trusted() -> None:
    saved = state.ServiceState(token_sha256=state.token_hash("pw"), expires_at=iso(NOW))
    assert token_expiry("pw", SVC, saved) == (NOW, "")


@pytest.mark.parametrize(
    ("signed_ago", "want"),
    [(0, FRESH), (599, FRESH), (600, EXPIRING), (899, EXPIRING), (900, EXPIRED), (5000, EXPIRED)],
)
def test_classification_by_age(signed_ago: int, want: str) -> None:
    token = sign(NOW - timedelta(seconds=signed_ago))
    cur = current(SVC, stored(SVC, token), None, NOW)
    assert cur.health == want
    assert cur.expires_at == NOW - timedelta(seconds=signed_ago) + timedelta(seconds=900)


def test_refresh_before_sets_the_window() -> None:
    token = sign(NOW - timedelta(seconds=200))  # 700 s left
    assert current(service(refresh_before=600), stored(SVC, token), None, NOW).health == FRESH
    assert current(service(refresh_before=700), stored(SVC, token), None, NOW).health == EXPIRING


def test_missing() -> None:
    assert current(SVC, None, None, NOW).health == MISSING
    assert current(SVC, b"", None, NOW).health == MISSING
    other_db = replace(SVC, dbname="other")
    cur = current(other_db, stored(SVC, sign(NOW)), None, NOW)
    assert (cur.health, cur.expires_at, cur.reason) == (MISSING, None, "no pgpass entry")


def test_entry_for_another_endpoint_needs_refresh() -> None:
    data = stored(SVC, sign(NOW, port=5433))
    cur = current(SVC, data, None, NOW)
    assert cur.health == EXPIRED and cur.expires_at is None and "5433" in cur.reason


def test_credential_cap_in_state_turns_fresh_into_expiring() -> None:
    token = sign(NOW)
    saved = state.ServiceState(token_sha256=state.token_hash(token), expires_at=iso(NOW + timedelta(seconds=100)))
    assert current(SVC, stored(SVC, token), None, NOW).health == FRESH
    cur = current(SVC, stored(SVC, token), saved, NOW)
    assert cur.health == EXPIRING and cur.expires_at == NOW + timedelta(seconds=100)


def test_exit_code() -> None:
    ok = Outcome("a", Action.REFRESHED)
    assert exit_code([]) == 0 and exit_code([ok, Outcome("a", Action.FRESH)]) == 0
    assert exit_code([ok, Outcome("a", Action.FAILED, error=PgiamError("x"))]) == 1
    assert exit_code([Outcome("a", Action.FAILED, error=PgiamError("x")),
                      Outcome("b", Action.FAILED, error=PgiamError("y", exit_code=2))]) == 1  # a service failed


def test_renewal_keeps_a_margin_before_the_window() -> None:
    """Renewed from refresh_before + 60 s on, although still shown fresh until refresh_before."""
    token = sign(NOW - timedelta(seconds=539))  # 361 s left
    cur = current(SVC, stored(SVC, token), None, NOW)
    assert cur.health == FRESH and not cur.renew
    cur = current(SVC, stored(SVC, sign(NOW - timedelta(seconds=540))), None, NOW)  # 360 s left
    assert cur.health == FRESH and cur.renew


def test_token_dated_in_the_future_is_not_fresh() -> None:
    cur = current(SVC, stored(SVC, sign(NOW + timedelta(seconds=61))), None, NOW)
    assert cur.health == EXPIRED and cur.renew and "ahead of this clock" in cur.reason
    assert current(SVC, stored(SVC, sign(NOW + timedelta(seconds=60))), None, NOW).health == FRESH


def test_a_shadowing_line_before_ours_is_not_fresh() -> None:
    data = stored(SVC, sign(NOW))
    cur = current(SVC, b"*:*:*:alice:hunter2\n" + data, None, NOW)
    assert cur.health == EXPIRED and cur.renew and "libpq would use pgpass line 1" in cur.reason
    assert current(SVC, data + b"*:*:*:alice:hunter2\n", None, NOW).health == FRESH


def test_a_stanza_behind_an_over_long_line_is_rewritten() -> None:
    long = b"# " + b"x" * 1100 + b"\n"
    ours, _ = servicefile.upsert(b"", "prod", stanza_params(SVC, passfile=None))
    cur = current(SVC, stored(SVC, sign(NOW)), None, NOW, services=b"[other]\n" + long + ours)
    assert cur.stanza is not None and "over-long line 2" in cur.reason


def test_db_user_prefixes_redshift_iam_users_only() -> None:
    assert db_user(SVC) == "alice"
    rs = service(host="c1.abc123xyz.us-west-2.redshift.amazonaws.com")
    assert rs.kind == "redshift" and db_user(rs) == "IAM:alice"
    assert db_user(replace(rs, user="IAMR:alice")) == "IAMR:alice"  # already mapped: kept


@given(st.tuples(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8), st.text(max_size=8)))
def test_key_id_is_what_json_dumps_writes(fields: tuple[str, str, str, str]) -> None:
    """key_id restates json.dumps(list(fields), ensure_ascii=False) (the state file's key names)."""
    import json

    from pgiam.flow.plan import key_id, key_of
    from pgiam.libpq.pgpass import Key

    key = Key(*fields)
    assert key_id(key) == json.dumps(list(fields), ensure_ascii=False)
    assert key_of(key_id(key)) == key
