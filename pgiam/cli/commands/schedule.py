"""`pgiam schedule install|remove|show`: run `pgiam refresh --quiet` every few minutes.

Backends: a systemd user timer, a launchd LaunchAgent, or a crontab line. The default is launchd on
macOS, systemd where `systemctl --user` answers, else cron. All programs (crontab, systemctl,
launchctl) are run by name from PATH with argument lists, never through a shell.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pgiam import atomic
from pgiam.config.paths import default_service_file
from pgiam.errors import PgiamError, UsageError
from pgiam.flow.context import Context
from pgiam.host import schedule

TIMEOUT = 30.0
PREFLIGHT_TIMEOUT = 120.0

# `pgiam --all-users schedule ...`: one system-level job that runs `pgiam --all-users refresh --quiet`
# (a systemd system timer, root's crontab, a launchd daemon) instead of one job per user. Set by run().
_all_users = False
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
LAUNCHD_DAEMON_DIR = Path("/Library/LaunchDaemons")


class ToolError(PgiamError):
    """A scheduler tool is missing or failed (exit 1)."""


def _run(
    argv: Sequence[str], *, input: str | None = None, timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a tool by name from PATH; ToolError when it is missing or hangs."""
    try:
        return subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"`{' '.join(argv[:3])}` did not finish within {timeout:g}s") from None
    except OSError as e:
        raise ToolError(f"cannot run {argv[0]}: {e.strerror}") from None


def _first_line(p: subprocess.CompletedProcess[str]) -> str:
    text = (p.stderr or p.stdout or "").strip()
    return text.splitlines()[0] if text else f"exit status {p.returncode}"


# --------------------------------------------------------------------------- what to run


def program() -> list[str]:
    """The absolute command that starts this pgiam: the console script when we can find it."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) in ("pgiam", "pgiam.exe") and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]
    beside = Path(sys.executable).parent / ("pgiam.exe" if os.name == "nt" else "pgiam")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    return [os.path.abspath(sys.executable), "-m", "pgiam"]


def _passwd_home() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(_uid()).pw_dir
    except (ImportError, KeyError):
        return None


def carried_env(ctx: Context) -> dict[str, str]:
    """What the job sets itself: the settings of this shell a scheduled job would not inherit but needs
    to do what `pgiam refresh` does here (never credentials: they would end up in a crontab or unit file)."""
    env = ctx.platform.env
    carried = {k: env[k] for k in schedule.CARRIED if k in env}
    home = env.get("HOME")
    if home and home != _passwd_home():  # cron and systemd give the job the passwd home
        carried = {"HOME": home, **carried}
    return carried


def make_job(ctx: Context, every: int, scratch: Path | None = None) -> schedule.Job:
    """The job. With `scratch`, the same command pointed at scratch files in that directory (an empty
    pgpass, a copy of the service file, a new state file), so that a test run signs every token and
    touches none of the real files."""
    if _all_users:
        return schedule.Job(argv=(*program(), "--all-users", "refresh", "--quiet"), every=every)
    p = ctx.platform
    pgpass = None if ctx.pgpass_is_default else str(ctx.pgpass.absolute())
    sf = ctx.service_file
    service_file = None if sf.absolute() == default_service_file(p).absolute() else str(sf.absolute())
    extra = carried_env(ctx)
    if scratch is not None:
        pgpass = str(scratch / "pgpass")
        service_file = str(scratch / "pg_service.conf")
        data = atomic.read_file(sf)
        if data is not None:
            (scratch / "pg_service.conf").write_bytes(data)
        extra["PGIAM_STATE"] = str(scratch / "state.json")
    argv = schedule.job_argv(program(), config=str(ctx.config_path.absolute()), pgpass=pgpass,
                             service_file=service_file)
    if extra:
        import shutil

        env_prog = shutil.which("env", path="/usr/bin:/bin") or "/usr/bin/env"
        argv = (env_prog, *(f"{k}={v}" for k, v in extra.items()), *argv)
    return schedule.Job(argv=argv, every=every)


# --------------------------------------------------------------------------- preflight


def job_base_env(ctx: Context, backend: str) -> dict[str, str]:
    """The environment a job of `backend` starts with, before what the job sets itself."""
    user = _user()
    home = _passwd_home() or str(ctx.platform.home)
    base = {"HOME": home, "LOGNAME": user, "USER": user}
    if backend == "cron":
        return {**base, "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    if backend == "launchd":
        return {**base, "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    try:  # the user manager's own environment, when there is one
        p = _systemctl("show-environment")
    except ToolError:
        p = None
    if p is not None and p.returncode == 0:
        found = dict(ln.split("=", 1) for ln in p.stdout.splitlines() if "=" in ln)
        if found:
            return found
    return {**base, "PATH": "/usr/local/bin:/usr/bin:/bin"}


_SHELL_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_VAULT",
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")


def preflight(ctx: Context, job: schedule.Job, backend: str) -> None:
    """Run the job's command in the environment the job will have (against scratch copies of the files,
    so that every token is signed and no real file changes); refuse (nothing installed) with the reason
    when it fails."""
    import tempfile

    env = job_base_env(ctx, backend)
    with tempfile.TemporaryDirectory(prefix="pgiam-preflight-") as tmp:
        trial = make_job(ctx, job.every, scratch=Path(tmp))
        try:
            p = subprocess.run(list(trial.argv), env=env, capture_output=True, text=True,
                               timeout=PREFLIGHT_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ToolError(f"schedule: could not run the job's command as a test ({e}); nothing installed"
                            ) from None
    if p.returncode == 0:
        return
    said = " ".join((p.stderr or p.stdout or f"exit status {p.returncode}").strip().splitlines()[:1])
    said = said.removeprefix("pgiam: error: ").replace(tmp, "<scratch>")
    shell = ctx.platform.env
    hints = []
    creds = [k for k in _SHELL_CREDENTIALS if shell.get(k)]
    if creds:
        hints.append(f"this shell has credentials in its environment ({', '.join(creds)}), which a scheduled "
                     "job does not inherit: keep them where the job finds them (a profile in ~/.aws with "
                     "credential_process, SSO or keys) and name it with `profile =` in the config")
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        if shell.get(var):
            hints.append(f"{var}={shell[var]} is set only in this shell: the job does not have it; put "
                         f"`profile = \"{shell[var]}\"` in the config ([defaults] or the service)")
            break
    hint = "; ".join(hints) if hints else "run the command above by hand with `env -i` to see why"
    raise ToolError(f"schedule: nothing installed: the job would fail. Run as {backend} would run it "
                    f"(`{' '.join(job.argv)}`), it said: {said}. {hint}")


def cron_daemon_running(proc: Path = Path("/proc")) -> bool | None:
    """Whether a cron daemon process runs (None: cannot tell, e.g. no /proc)."""
    try:
        entries = [e for e in proc.iterdir() if e.name.isdigit()]
    except OSError:
        return None
    for e in entries:
        try:
            name = (e / "comm").read_text().strip()
        except OSError:
            continue
        if name in schedule.CRON_DAEMONS:
            return True
    return False


def systemd_lingers() -> bool | None:
    try:
        p = _run(["loginctl", "show-user", _user(), "--property=Linger", "--value"], timeout=10)
    except ToolError:
        return None
    return p.stdout.strip() == "yes" if p.returncode == 0 else None


# --------------------------------------------------------------------------- where things go


def systemd_dir(ctx: Context) -> Path:
    """systemd's per-user unit directory ($XDG_CONFIG_HOME/systemd/user); the system one for --all-users."""
    if _all_users:
        return SYSTEM_UNIT_DIR
    base = ctx.platform.env.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base) if base and os.path.isabs(base) else ctx.platform.home / ".config"
    return root / "systemd" / "user"


def launchd_plist_path(ctx: Context) -> Path:
    if _all_users:
        return LAUNCHD_DAEMON_DIR / f"{schedule.LABEL}.plist"
    return ctx.platform.home / "Library" / "LaunchAgents" / f"{schedule.LABEL}.plist"


def launchd_log_path(ctx: Context) -> Path:
    if _all_users:
        return Path("/var/log/pgiam-refresh.log")
    return ctx.platform.home / "Library" / "Logs" / "pgiam-refresh.log"


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(_uid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "$USER")


def systemd_usable() -> bool:
    """Whether a systemd user manager answers (`systemctl --user show-environment`)."""
    try:
        return _run(["systemctl", *_scope(), "show-environment"], timeout=10).returncode == 0
    except ToolError:
        return False


def default_backend(ctx: Context) -> str:
    system = ctx.platform.system
    if system == "windows":
        raise UsageError(
            "pgiam schedule knows cron, systemd and launchd; on Windows create a Task Scheduler task "
            "that runs `pgiam refresh --quiet` every 5 minutes"
        )
    if system == "darwin":
        return "launchd"
    return "systemd" if systemd_usable() else "cron"


# --------------------------------------------------------------------------- cron


def crontab_read() -> str:
    p = _run(["crontab", "-l"])
    if p.returncode == 0:
        return p.stdout
    if "no crontab" in (p.stderr or "").lower():
        return ""
    raise ToolError(f"`crontab -l` failed: {_first_line(p)}")


def crontab_write(text: str) -> None:
    p = _run(["crontab", "-"], input=text)
    if p.returncode != 0:
        raise ToolError(f"`crontab -` refused the new crontab: {_first_line(p)}; your crontab is unchanged")


def _cron_install(ctx: Context, job: schedule.Job) -> int:
    try:
        current = crontab_read()
    except ToolError as e:
        raise ToolError(f"{e}; install cron or pick another --backend") from None
    line = schedule.cron_line(job)
    new = schedule.cron_merge(current, line)
    _, real = schedule.cron_timing(job.every)
    if real != job.every:
        ctx.out.warn(f"cron counts whole minutes and hours: running every {schedule.human(real)}, "
                     f"not {schedule.human(job.every)}")
    if new == current:
        ctx.out.info(f"cron: already installed: {line}")
        return 0
    crontab_write(new)
    ctx.out.info(f"cron: installed in your crontab: {line}")
    return 0


def _cron_installed() -> list[str]:
    return schedule.cron_find(crontab_read())


def _cron_remove(ctx: Context) -> bool:
    current = crontab_read()
    if not schedule.cron_find(current) and schedule.CRON_HEADER not in current:
        return False
    rest = schedule.cron_merge(current, None)
    if rest.strip() == "":  # nothing else in it: leave no (empty) crontab behind
        p = _run(["crontab", "-r"])
        if p.returncode != 0:
            raise ToolError(f"`crontab -r` failed: {_first_line(p)}")
        ctx.out.info("cron: removed pgiam's line and the crontab it left empty")
        return True
    crontab_write(rest)
    ctx.out.info("cron: removed pgiam's line from your crontab")
    return True


# --------------------------------------------------------------------------- systemd


def _write(path: Path, data: bytes) -> bool:
    return bool(atomic.update_file(path, lambda _old: data, private=False))


def _delete(path: Path) -> bool:
    """Delete a file we wrote. Never a lock file: another pgiam may hold it (locks live in pgiam's own
    directory, not beside the unit files)."""
    if not os.path.lexists(path):
        return False
    return bool(atomic.update_file(path, lambda _old: None, private=False))


def _scope() -> list[str]:
    """systemctl's scope: the user's manager, or the system's for --all-users."""
    return [] if _all_users else ["--user"]


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return _run(["systemctl", *_scope(), *args])


def _systemd_install(ctx: Context, job: schedule.Job) -> int:
    d = systemd_dir(ctx)
    changed = False
    for name, text in schedule.systemd_units(job).items():
        changed = _write(d / name, text.encode()) or changed
    timer = f"{schedule.UNIT}.timer"
    service = f"{schedule.UNIT}.service"
    ctx.out.info(f"systemd: {'wrote' if changed else 'unchanged'} {d / service} and {d / timer}")
    steps = (("daemon-reload",), ("enable", "--now", timer), ("start", "--no-block", service))
    for step in steps:
        try:
            p = _systemctl(*step)
            why = "" if p.returncode == 0 else _first_line(p)
        except ToolError as e:
            why = str(e)
        if why:
            raise ToolError(
                f"systemd: wrote the units but could not enable them (`systemctl --user {' '.join(step)}`: "
                f"{why}); in a login session run `systemctl --user daemon-reload && systemctl --user enable "
                f"--now {timer}`; on a server, first `loginctl enable-linger {_user()}` as root; or use "
                "--backend cron"
            )
    ctx.out.info(f"systemd: {timer} enabled: runs every {schedule.human(job.every)}")
    return 0


def _systemd_files(ctx: Context) -> list[Path]:
    d = systemd_dir(ctx)
    files = [d / f"{schedule.UNIT}.service", d / f"{schedule.UNIT}.timer"]
    link = d / "timers.target.wants" / f"{schedule.UNIT}.timer"
    return [f for f in [*files, link] if os.path.lexists(f)]


def _systemd_remove(ctx: Context) -> bool:
    files = _systemd_files(ctx)
    if not files:
        return False
    try:
        p = _systemctl("disable", "--now", f"{schedule.UNIT}.timer")
        if p.returncode != 0:
            ctx.out.warn(f"systemd: `systemctl --user disable` failed ({_first_line(p)}); "
                         "removing the files anyway")
    except ToolError as e:
        ctx.out.warn(f"systemd: {e}; removing the files anyway")
    for f in _systemd_files(ctx):
        if f.is_symlink():
            atomic.remove(f)  # the link itself, reached like every file pgiam writes
        else:
            _delete(f)
    with contextlib.suppress(ToolError):
        _systemctl("daemon-reload")
    d = systemd_dir(ctx)
    for empty in (d / "timers.target.wants", d, d.parent):  # directories left empty: gone too
        with contextlib.suppress(OSError):
            empty.rmdir()
    ctx.out.info(f"systemd: removed {schedule.UNIT}.timer and .service from {d}")
    return True


def _systemd_show(ctx: Context) -> list[str]:
    d = systemd_dir(ctx)
    timer = d / f"{schedule.UNIT}.timer"
    service = d / f"{schedule.UNIT}.service"
    if not timer.exists() and not service.exists():
        return []
    every = schedule.systemd_every(timer.read_text()) if timer.exists() else None
    exec_start = ""
    if service.exists():
        exec_start = next((ln[len("ExecStart="):] for ln in service.read_text().splitlines()
                           if ln.startswith("ExecStart=")), "")
    try:
        p = _systemctl("is-active", f"{schedule.UNIT}.timer")
        active = p.stdout.strip() or _first_line(p)
    except ToolError as e:
        active = str(e)
    when = f"every {schedule.human(every)}" if every else "interval unknown"
    return [f"systemd: {when}: {timer} (timer state: {active})", f"systemd: runs {exec_start}"]


# --------------------------------------------------------------------------- launchd


def _domain() -> str:
    return "system" if _all_users else f"gui/{_uid()}"


def _launchd_install(ctx: Context, job: schedule.Job) -> int:
    plist = launchd_plist_path(ctx)
    log = launchd_log_path(ctx)
    changed = _write(plist, schedule.launchd_plist(job, str(log)))
    ctx.out.info(f"launchd: {'wrote' if changed else 'unchanged'} {plist}")
    try:
        _run(["launchctl", "bootout", f"{_domain()}/{schedule.LABEL}"])  # reload: fails when not loaded
        p = _run(["launchctl", "bootstrap", _domain(), str(plist)])
    except ToolError as e:
        raise ToolError(
            f"launchd: wrote {plist} but could not load it: {e} (launchd exists on macOS only; "
            "use --backend cron or systemd here)"
        ) from None
    if p.returncode != 0:
        raise ToolError(f"launchd: `launchctl bootstrap {_domain()} {plist}` failed: {_first_line(p)}")
    ctx.out.info(f"launchd: loaded {schedule.LABEL}: runs every {schedule.human(job.every)}, log {log}")
    return 0


def _launchd_remove(ctx: Context) -> bool:
    plist = launchd_plist_path(ctx)
    if not os.path.lexists(plist):
        return False
    try:
        _run(["launchctl", "bootout", f"{_domain()}/{schedule.LABEL}"])
    except ToolError as e:
        ctx.out.warn(f"launchd: {e}; removing {plist} anyway")
    _delete(plist)
    ctx.out.info(f"launchd: unloaded {schedule.LABEL} and removed {plist}")
    return True


def _launchd_show(ctx: Context) -> list[str]:
    plist = launchd_plist_path(ctx)
    if not plist.exists():
        return []
    doc = schedule.launchd_read(plist.read_bytes())
    if doc is None:
        return [f"launchd: {plist} is not a valid plist; run `pgiam schedule install --backend launchd`"]
    every = doc.get("StartInterval")
    argv = doc.get("ProgramArguments")
    when = f"every {schedule.human(every)}" if isinstance(every, int) else "interval unknown"
    cmd = " ".join(str(a) for a in argv) if isinstance(argv, list) else "?"
    return [f"launchd: {when}: {plist}", f"launchd: runs {cmd}"]


# --------------------------------------------------------------------------- verbs


def _installed(ctx: Context, backend: str, *, strict: bool) -> list[str]:
    """Lines describing what `backend` has installed (empty when nothing)."""
    try:
        if backend == "cron":
            found = _cron_installed()
            return [f"cron: every {schedule.human(schedule.cron_every(ln) or 0)}: {ln}" for ln in found]
        if backend == "systemd":
            return _systemd_show(ctx)
        return _launchd_show(ctx)
    except ToolError:
        if strict:
            raise
        return []


def install(ctx: Context, every_text: str | None, backend: str | None) -> int:
    every = schedule.parse_every(every_text) if every_text else schedule.DEFAULT_EVERY
    services = list(ctx.load_config().services.values())
    schedule.check_every(every, services)
    chosen = backend or default_backend(ctx)
    job = make_job(ctx, every)
    if not services:
        ctx.out.warn(f"no services in {ctx.config_path} yet; the job has nothing to do until `pgiam add`")
    preflight(ctx, job, chosen)
    if chosen == "cron" and cron_daemon_running() is False:
        ctx.out.warn("no cron daemon is running (no cron or crond process): the job will not run until one "
                     "does (e.g. `systemctl enable --now cron`), or use --backend systemd")
    if chosen == "systemd" and systemd_usable() and systemd_lingers() is False:
        ctx.out.warn(f"systemd: lingering is off for {_user()}: the timer runs only while you are logged in "
                     f"(`loginctl enable-linger {_user()}` keeps it running)")
    if chosen == "cron":
        code = _cron_install(ctx, job)
    elif chosen == "systemd":
        code = _systemd_install(ctx, job)
    else:
        code = _launchd_install(ctx, job)
    for other in schedule.BACKENDS:
        if other != chosen and _installed(ctx, other, strict=False):
            ctx.out.warn(f"a pgiam schedule is also installed with {other}; "
                         f"remove it with `pgiam schedule remove --backend {other}`")
    return code


def remove(ctx: Context, backend: str | None) -> int:
    removed = False
    for b in [backend] if backend else list(schedule.BACKENDS):
        try:
            if b == "cron":
                removed = _cron_remove(ctx) or removed
            elif b == "systemd":
                removed = _systemd_remove(ctx) or removed
            else:
                removed = _launchd_remove(ctx) or removed
        except ToolError:
            if backend:
                raise
    if not removed:
        ctx.out.info("no pgiam schedule was installed" + (f" with {backend}" if backend else ""))
    return 0


def show(ctx: Context, backend: str | None) -> int:
    lines: list[str] = []
    for b in [backend] if backend else list(schedule.BACKENDS):
        lines += _installed(ctx, b, strict=bool(backend))
    if not lines:
        print("no pgiam schedule installed; add one with `pgiam schedule install`", file=ctx.out.stdout)
        return 0
    for ln in lines:
        print(ln, file=ctx.out.stdout)
    return 0


def run(ctx: Context, action: str, every: str | None, backend: str | None, *, all_users: bool = False) -> int:
    global _all_users
    if all_users and _uid() != 0:
        raise UsageError("--all-users schedule: only root can install the system-level job; run "
                         "`pgiam schedule ...` as each user instead")
    _all_users = all_users
    try:
        return _run_action(ctx, action, every, backend)
    finally:
        _all_users = False


def _run_action(ctx: Context, action: str, every: str | None, backend: str | None) -> int:
    if backend is not None and backend not in schedule.BACKENDS:
        raise UsageError(f"--backend {backend!r}: choose one of {', '.join(schedule.BACKENDS)}")
    if action == "install":
        return install(ctx, every, backend)
    if every is not None:
        raise UsageError(f"--every only applies to `pgiam schedule install`, not {action}")
    if action == "remove":
        return remove(ctx, backend)
    if action == "show":
        return show(ctx, backend)
    raise UsageError(f"unknown schedule action {action!r}: install, remove or show")
