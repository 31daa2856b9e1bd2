"""Pure schedule generation: intervals, systemd units (checked by the real systemd-analyze), the
launchd plist (plistlib) and crontab merging (every foreign line kept)."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgiam.config.model import Service
from pgiam.errors import UsageError
from pgiam.host import schedule


def svc(
    name: str = "a", refresh_before: int = 300, token_lifetime: int | None = None, kind: str = "rds"
) -> Service:
    return Service(
        name=name,
        host="db.x.us-east-1.rds.amazonaws.com",
        user="u",
        kind=kind,
        refresh_before=refresh_before,
        token_lifetime=token_lifetime,
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("300s", 300),
        ("300", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        (" 2M ", 120),
        ("90s", 90),
    ],
)
def test_parse_every(text: str, seconds: int) -> None:
    assert schedule.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "-5m", "5 m", "1.5m", "5m5h"])
def test_parse_every_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--every"):
        schedule.parse_every(text)


def test_max_every_is_the_smallest_window() -> None:
    assert schedule.max_every([]) == 300
    assert schedule.max_every([svc()]) == 300
    assert schedule.max_every([svc(refresh_before=600), svc("b", refresh_before=120)]) == 120
    # a window longer than the token: every run renews, the token life is the bound
    assert schedule.max_every([svc(refresh_before=1200, kind="dsql", token_lifetime=600)]) == 599


def test_check_every_bounds() -> None:
    services = [svc(), svc("slow", refresh_before=240)]
    assert schedule.check_every(240, services) == 240
    with pytest.raises(UsageError, match=r"--every 5m could leave an expired token.*'slow'.*--every 4m"):
        schedule.check_every(300, services)
    with pytest.raises(UsageError, match="at most once a minute"):
        schedule.check_every(59, services)


def _always_valid(every: int, lifetime: int, window: int) -> bool:
    """Runs at 0, every, 2*every...; a token may be issued at any moment s (add, exec, a manual
    refresh). Is it always renewed by a run no later than its expiry, for every s?"""
    for s in range(every):
        earliest = max(s + lifetime - window, s + 1)  # first moment a run renews it
        t = -(-earliest // every) * every  # the first run at or after that
        if t >= s + lifetime:  # at its expiry second the token is already refused
            return False
    return True


@given(st.integers(60, 1200), st.integers(1, 1000))
def test_interval_rule_matches_a_simulation(every: int, window: int) -> None:
    s = svc(refresh_before=window)
    allowed = every <= schedule.max_every([s])
    assert allowed == _always_valid(every, 900, window)


def _job(every: int = 300, config: str = "/etc/pgiam dir/config%.toml") -> schedule.Job:
    argv = schedule.job_argv([sys.executable, "-m", "pgiam"], config=config, pgpass="/tmp/p$ass")
    return schedule.Job(argv=argv, every=every)


def test_job_argv() -> None:
    assert schedule.job_argv(["/bin/pgiam"], config="/c.toml") == (
        "/bin/pgiam",
        "--config",
        "/c.toml",
        "refresh",
        "--quiet",
    )
    with pytest.raises(UsageError, match="newline"):
        schedule.Job(argv=("/bin/pgiam", "a\nb"), every=300)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (.ci/run installs it)"
)
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = schedule.systemd_units(_job(every=240))
    assert set(units) == {"pgiam-refresh.service", "pgiam-refresh.timer"}
    timer = units["pgiam-refresh.timer"]
    for line in (
        "OnUnitActiveSec=240s",
        "OnBootSec=30s",
        "AccuracySec=1s",
        "Unit=pgiam-refresh.service",
        "WantedBy=timers.target",
    ):
        assert f"\n{line}\n" in timer
    assert schedule.systemd_every(timer) == 240
    # Persistent= only acts with OnCalendar=; a monotonic timer with it would promise catch-up it never does
    assert "Persistent=" not in timer or "OnCalendar=" in timer
    service = units["pgiam-refresh.service"]
    exec_line = next(ln for ln in service.splitlines() if ln.startswith("ExecStart="))
    # % doubled (specifiers), $ doubled (variables), spaces quoted
    assert '"/etc/pgiam dir/config%%.toml"' in exec_line and "/tmp/p$$ass" in exec_line
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SYSTEMD_LOG_LEVEL="notice")
    for mode in (["--user"], []):
        p = subprocess.run(
            [
                "systemd-analyze",
                *mode,
                "verify",
                str(tmp_path / "pgiam-refresh.timer"),
                str(tmp_path / "pgiam-refresh.service"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert p.returncode == 0 and p.stderr.strip() == "", (mode, p.stderr)


def test_systemd_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The verify step above can fail: a unit whose ExecStart program does not exist is refused."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    job = schedule.Job(argv=("/nonexistent/pgiam", "refresh"), every=300)
    for name, text in schedule.systemd_units(job).items():
        (tmp_path / name).write_text(text)
    p = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "pgiam-refresh.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode != 0 and "not executable" in p.stderr


def test_launchd_plist() -> None:
    job = _job(every=120)
    doc = plistlib.loads(schedule.launchd_plist(job, "/Users/x/Library/Logs/pgiam-refresh.log"))
    assert doc["Label"] == schedule.LABEL == "pgiam.refresh"
    assert doc["ProgramArguments"] == list(job.argv)
    assert doc["StartInterval"] == 120 and doc["RunAtLoad"] is True
    assert doc["StandardErrorPath"] == "/Users/x/Library/Logs/pgiam-refresh.log"
    assert schedule.launchd_read(b"not a plist") is None


@pytest.mark.parametrize(
    ("seconds", "timing", "real"),
    [
        (60, "* * * * *", 60),
        (300, "*/5 * * * *", 300),
        (90, "* * * * *", 60),
        (420, "*/7 * * * *", 420),
        (3600, "0 * * * *", 3600),
        (5400, "0 * * * *", 3600),
        (7200, "0 */2 * * *", 7200),
    ],
)
def test_cron_timing_rounds_down(seconds: int, timing: str, real: int) -> None:
    assert schedule.cron_timing(seconds) == (timing, real)
    assert schedule.cron_every(f"{timing} /bin/x {schedule.CRON_MARKER}") == real


def test_cron_line_quotes_for_sh_and_cron() -> None:
    line = schedule.cron_line(_job())
    assert line.startswith("*/5 * * * * ") and line.endswith(" # pgiam-schedule")
    assert "'/etc/pgiam dir/config\\%.toml'" in line  # sh quoting, cron's % escaped
    assert "'/tmp/p$ass'" in line


FOREIGN = "MAILTO=ops@example.com\n# nightly\n0 3 * * * /usr/bin/backup --all  # keep\n\n@reboot /bin/true"


def test_cron_merge_round_trip() -> None:
    line = schedule.cron_line(_job())
    installed = schedule.cron_merge(FOREIGN, line)
    assert installed == FOREIGN + "\n" + schedule.CRON_HEADER + "\n" + line + "\n"
    assert schedule.cron_find(installed) == [line]
    assert schedule.cron_merge(installed, line) == installed  # idempotent
    other = schedule.cron_line(_job(every=120))
    replaced = schedule.cron_merge(installed, other)
    assert schedule.cron_find(replaced) == [other] and replaced.count(schedule.CRON_HEADER) == 1
    assert schedule.cron_merge(replaced, None) == FOREIGN + "\n"
    assert schedule.cron_merge("", None) == ""


_cron_text = st.lists(
    st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)), max_size=40),
    max_size=8,
)


@given(_cron_text, st.booleans())
def test_cron_merge_keeps_every_foreign_line(lines: list[str], trailing: bool) -> None:
    lines = [
        ln
        for ln in lines
        if not ln.rstrip().endswith(schedule.CRON_MARKER) and ln.strip() != schedule.CRON_HEADER
    ]
    text = "\n".join(lines) + ("\n" if trailing and lines else "")
    line = schedule.cron_line(_job())
    merged = schedule.cron_merge(text, line)
    assert schedule.cron_find(merged) == [line]
    removed = schedule.cron_merge(merged, None)
    assert removed == text or removed == text + "\n"


def test_human() -> None:
    assert [schedule.human(s) for s in (300, 90, 3600, 5400)] == ["5m", "90s", "1h", "90m"]
