"""Command line: parse, validate, dispatch. PgiamError is caught here and only here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pgiam import __version__, output
from pgiam.errors import PgiamError, UsageError

KINDS = ("rds", "dsql", "redshift", "redshift-serverless", "azure", "cloudsql", "alloydb")  # = config.kinds.NAMES
EPILOG = "Exit status: 0 ok, 1 a service failed, 2 usage or configuration error. See pgiam(1)."


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool, unix_user: bool = True) -> None:
    """Global options, accepted before the verb (git-style) and, kindly, after it too.

    After `add`, --user is the database user, so the Unix --user must come before the verb there.
    """
    d = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("global options")
    g.add_argument("--config", metavar="PATH", default=d, help="config file (default: $PGIAM_CONFIG, else "
                   "~/.config/pgiam/config.toml)")
    g.add_argument("--pgpass", metavar="PATH", default=d, help="pgpass file (default: $PGPASSFILE, else ~/.pgpass)")
    g.add_argument("--service-file", metavar="PATH", default=d,
                   help="service file (default: $PGSERVICEFILE, else ~/.pg_service.conf)")
    g.add_argument("-q", "--quiet", action="store_true", default=d if suppress else False,
                   help="print nothing on success; errors only")
    g.add_argument("-v", "--verbose", action="store_true", default=d if suppress else False,
                   help="also report services that needed nothing")
    if unix_user:
        g.add_argument("--user", metavar="NAME", dest="run_as", default=d,
                       help="(root only) act as this Unix user: drop privileges before touching anything")


class _Parser(argparse.ArgumentParser):
    verb_hint: str | None = None  # set by main(): the verb on the command line, for errors about it

    def error(self, message: str) -> None:  # type: ignore[override]
        prog = f"pgiam {self.verb_hint}" if self.verb_hint and self.prog == "pgiam" else self.prog
        raise UsageError(f"{message}{_did_you_mean(self, message)} (see `{prog} --help`)")


def _all_options(parser: argparse.ArgumentParser, verb: str | None) -> list[str]:
    """Option strings of the parser and of its verbs (only `verb`'s when given)."""
    found = [s for a in parser._actions for s in a.option_strings]
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                if verb is None or name == verb:
                    found += [s for b in sub._actions for s in b.option_strings]
    return sorted(set(found))


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    """'; did you mean X?' for a mistyped verb, choice or option (difflib), else ''."""
    import difflib
    import re

    m = re.match(r"argument (\S+): invalid choice: '([^']*)'", message)
    if m:
        for a in parser._actions:
            if a.choices is not None and (m.group(1) in a.option_strings or m.group(1) in (a.metavar, a.dest)):
                close = difflib.get_close_matches(m.group(2), [str(c) for c in a.choices], n=1, cutoff=0.6)
                if close:
                    return f"; did you mean {close[0]!r}?"
        return ""
    m = re.match(r"unrecognized arguments: (.*)", message)
    if m:
        verb = parser.verb_hint if isinstance(parser, _Parser) else None
        options = _all_options(parser, verb)
        for word in m.group(1).split():
            if word.startswith("-"):
                close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.75)
                if close:
                    return f"; did you mean {close[0]}?"
    return ""


class _Skipped:
    """Stands in for the sub-parser of a verb that is not being run (see build_parser's `only`)."""

    def add_argument(self, *args: object, **kwargs: object) -> None:
        return None


# global options that take a value, for finding the verb without building the whole parser
_VALUED = frozenset({"--config", "--pgpass", "--service-file", "--user"})


def verb_of(argv: Sequence[str]) -> str | None:
    """The verb on this command line, or None when it cannot be told before parsing (help, typos)."""
    expect_value = False
    for arg in argv:
        if expect_value:
            expect_value = False
        elif arg in ("-h", "--help", "--version", "--"):
            return None
        elif arg in _VALUED:
            expect_value = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, the sub-parser of that verb alone (start-up cost matters:
    the scheduled refresh runs every few minutes). Help and errors use the whole parser."""
    parser = _Parser(prog="pgiam", description="Fresh AWS IAM database tokens in ~/.pgpass and "
                     "~/.pg_service.conf, so `psql service=NAME` just connects.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"pgiam {__version__}")
    _global_options(parser, suppress=False)
    parser.add_argument("--all-users", action="store_true", help="(root only) with refresh or schedule: every "
                        "user who has a pgiam config, each as that user (see --user); schedule installs one "
                        "system-level job")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        if only is not None and name != only:
            return _Skipped()  # type: ignore[return-value]
        p = sub.add_parser(name, help=help, description=help, epilog=EPILOG)
        _global_options(p, suppress=True, unix_user=name != "add")
        return p

    p = verb("token", "print one IAM auth token (drop-in for `aws rds generate-db-auth-token`; "
             "--kind for DSQL and Redshift)")
    p.add_argument("--hostname", required=True, help="endpoint host name the token is signed for")
    p.add_argument("--port", type=int, default=None, help="endpoint port (default 5432; Redshift 5439)")
    p.add_argument("--region", help="AWS region (default: from the host name, AWS_REGION or the profile)")
    p.add_argument("--username", required=True, help="database user")
    p.add_argument("--profile", help="AWS profile (default: the default credential chain)")
    p.add_argument("--kind", choices=KINDS,
                   help="token source (default: from the host name, else rds)")
    p.add_argument("--expires-in", type=int, metavar="SECONDS",
                   help="token lifetime: DSQL 1-604800 (default 900), Redshift 900-3600")
    p.add_argument("--dbname", help="Redshift: database the password is limited to (default: any)")
    p.add_argument("--any-host", action="store_true",
                   help="sign for --hostname even if it is an IP, localhost or not an AWS endpoint")

    p = verb("add", "create or update a service in the config and refresh it at once")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--host", help="endpoint host name (signed into the token); required for a new service")
    p.add_argument("--user", dest="db_user", metavar="USER", help="database user; required for a new service")
    p.add_argument("--kind", choices=KINDS,
                   help="token source (default: from the host name: AWS endpoints, *.postgres.database.azure.com)")
    p.add_argument("--port", type=int, help="endpoint port (default 5432)")
    p.add_argument("--dbname", help="database (default: the user)")
    p.add_argument("--region", help="AWS region (default: from the host name)")
    p.add_argument("--profile", help="AWS profile")
    p.add_argument("--hostaddr", help="IP address to dial instead of resolving the host (tunnels)")
    p.add_argument("--local-port", type=int, help="port to dial (tunnels); the token is signed for --port")
    p.add_argument("--sslmode", help="TLS mode (default verify-full)")
    p.add_argument("--sslrootcert", help="CA bundle for verify-full")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra libpq keyword for the stanza (repeatable)")
    p.add_argument("--force", action="store_true", help="take over a stanza or pgpass line pgiam did not write "
                   "(`remove` puts it back)")
    p.add_argument("--replace", action="store_true", help="replace the whole service instead of changing only "
                   "the options given")

    p = verb("check-credentials", "preflight: STS GetCallerIdentity once per AWS profile the services use")
    p.add_argument("names", nargs="*", metavar="NAME", help="services whose profiles to check (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = verb("remove", "remove a service from the config, its stanza and its pgpass entry")
    p.add_argument("name", metavar="NAME")

    p = verb("refresh", "renew tokens that are missing, expired or about to expire")
    p.add_argument("names", nargs="*", metavar="NAME", help="services to refresh (default: all)")
    p.add_argument("--force", action="store_true", help="renew even fresh tokens; take over foreign stanzas")
    p.add_argument("--every", metavar="DURATION", help="stay in the foreground: refresh now, then every DURATION "
                   "(e.g. 5m; the same bounds as `schedule --every`) until SIGTERM or SIGINT (containers)")

    p = verb("status", "show each service's token state (exit 1 when any is expired, missing or in error)")
    p.add_argument("names", nargs="*", metavar="NAME", help="services to show (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--details", action="store_true", help="add profile, credential source, last refresh, "
                   "hostaddr, signed port, sslrootcert and the files in use")
    p.add_argument("--wide", action="store_true", help="table: add the host and never shorten a cell "
                   "(default: fit the terminal)")

    p = verb("env", "print export lines with a fresh token, for eval")
    p.add_argument("name", metavar="NAME")

    p = verb("exec", "run a command with PGSERVICE and a fresh PGPASSWORD in its environment")
    p.add_argument("name", metavar="NAME")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")

    p = verb("psql", "refresh NAME if needed, then run psql with service=NAME (the token stays in pgpass)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("psql_args", nargs=argparse.REMAINDER, metavar="PSQL-ARG", help="passed to psql as they are")

    p = verb("schedule", "install, remove or show a job that runs `pgiam refresh --quiet` every few minutes")
    p.add_argument("action", choices=("install", "remove", "show"),
                   help="install (idempotent; replaces an older pgiam job), remove (every backend unless "
                   "--backend), show (what is installed)")
    p.add_argument("--every", metavar="DURATION", help="interval for install, e.g. 5m, 300s (default 5m; at "
                   "least 1m and at most the smallest refresh_before of your services)")
    p.add_argument("--backend", choices=("cron", "systemd", "launchd"), help="scheduler (default: launchd "
                   "on macOS, a systemd user timer when `systemctl --user` works, else cron)")

    p = verb("ca", "install the Amazon RDS CA bundle that sslmode=verify-full needs")
    p.add_argument("action", choices=("install",), help="download (or copy) the bundle, check it, write it")
    p.add_argument("--from", dest="source", metavar="URL|FILE", help="where to get it (default: the AWS "
                   "global bundle, https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)")
    p.add_argument("--dest", metavar="PATH", help="where to write it (default: "
                   "~/.postgresql/rds-global-bundle.pem; `add` uses it as sslrootcert when present)")

    p = verb("doctor", "check the files, environment, libpq and TLS setup a service depends on")
    p.add_argument("name", nargs="?", metavar="NAME", help="check only this service (default: all)")
    p.add_argument("--connect", action="store_true", help="also connect with `psql service=NAME`, explain "
                   "failures and measure clock skew against the server")
    p.add_argument("--json", action="store_true", help="print a JSON array of checks")
    p = verb("completion", "print a shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=("bash", "zsh", "fish"))
    return parser


def _verbs(parser: argparse.ArgumentParser) -> list[str]:
    return [name for a in parser._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices]


def dispatch(args: argparse.Namespace) -> int:
    from pgiam.flow.context import Context

    ctx = Context.create(config_file=args.config, pgpass=args.pgpass, service_file=args.service_file,
                         quiet=bool(args.quiet), verbose=bool(args.verbose))
    from pgiam import atomic

    atomic.sweep()  # a killed run's temp file (a copy of pgpass) goes at the next run of any kind
    cmd = args.command
    if cmd == "token":
        from pgiam.cli.commands import token

        return token.run(ctx, hostname=args.hostname, port=args.port, region=args.region,
                         username=args.username, profile=args.profile, kind=args.kind,
                         expires_in=args.expires_in, dbname=args.dbname, any_host=args.any_host)
    if cmd == "check-credentials":
        from pgiam.cli.commands import check_credentials

        return check_credentials.run(ctx, args.names, args.json)
    if cmd == "add":
        from pgiam.cli.commands import add

        values = {
            "host": args.host, "port": args.port, "user": args.db_user, "dbname": args.dbname,
            "region": args.region, "profile": args.profile, "hostaddr": args.hostaddr,
            "local_port": args.local_port, "sslmode": args.sslmode, "sslrootcert": args.sslrootcert,
            "kind": args.kind,
        }
        return add.run(ctx, args.name, values, args.set, args.force, replace=args.replace)
    if cmd == "remove":
        from pgiam.cli.commands import remove

        return remove.run(ctx, args.name)
    if cmd == "refresh" and args.every is not None:
        from pgiam.cli.commands import loop

        return loop.run(ctx, args.names, args.force, args.every)
    if cmd == "refresh":
        from pgiam.cli.commands import refresh

        return refresh.run(ctx, args.names, args.force)
    if cmd == "status":
        from pgiam.cli.commands import status

        return status.run(ctx, args.json, details=args.details, names=args.names, wide=args.wide)
    if cmd == "env":
        from pgiam.cli.commands import env

        return env.run_env(ctx, args.name)
    if cmd == "exec":
        from pgiam.cli.commands import env

        return env.run_exec(ctx, args.name, args.argv)
    if cmd == "psql":
        from pgiam.cli.commands import psql

        return psql.run(ctx, args.name, args.psql_args)
    if cmd == "schedule":
        from pgiam.cli.commands import schedule

        return schedule.run(ctx, args.action, args.every, args.backend,
                            all_users=bool(getattr(args, "all_users", False)))
    if cmd == "ca":
        from pgiam.cli.commands import ca

        return ca.run(ctx, args.action, args.source, args.dest)
    if cmd == "doctor":
        from pgiam.cli.commands import doctor

        return doctor.run(ctx, args.name, connect=args.connect, as_json=args.json)
    if cmd == "completion":
        from pgiam.cli.completion import generate

        print(generate(build_parser(), args.shell), end="", file=ctx.out.stdout)
        return 0
    raise UsageError(f"unknown command {cmd!r}")


def _all_users(args: argparse.Namespace) -> int | None:
    """--all-users: refresh runs here (one child per user); schedule goes on to dispatch."""
    clash = [o for o, v in (("--user", args.run_as), ("--config", args.config), ("--pgpass", args.pgpass),
                            ("--service-file", args.service_file)) if v]
    if clash:
        raise UsageError(f"--all-users acts for every user at their own default files; drop {clash[0]}")
    if args.command == "schedule":
        return None
    if args.command != "refresh":
        raise UsageError(f"--all-users works with refresh and schedule, not {args.command}")
    if args.every is not None:
        raise UsageError("--all-users refresh cannot loop (--every); install the system job with "
                         "`pgiam --all-users schedule install`")
    from pgiam.host import allusers

    argv = ["refresh", *(["--force"] if args.force else []), *(["--quiet"] if args.quiet else []),
            *(["--verbose"] if args.verbose else []), *(["--", *args.names] if args.names else [])]
    return allusers.refresh(argv, main)


def main(argv: Sequence[str] | None = None) -> int:
    output.reset()
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        if words[:1] == ["__complete-services"]:  # hidden: service names for shell completion
            from pgiam.cli.completion import service_names

            for name in service_names(words[1:]):
                print(name)
            return 0
        from pgiam import fastpath

        fastpath.argv = tuple(words)  # refresh records the no-op gate's fingerprint for these forms only
        only = verb_of(words)
        parser = build_parser(only)
        if only is not None and only not in _verbs(parser):
            parser = build_parser()  # an unknown verb: the whole parser says what the choices are
        if not words:  # bare `pgiam`: short usage, not an error about a missing COMMAND
            print(parser.format_usage().rstrip(), file=sys.stderr)
            print("pgiam: a COMMAND is needed: `pgiam --help` lists them, `pgiam COMMAND --help` explains one",
                  file=sys.stderr)
            return 2
        if isinstance(parser, _Parser) and only in _verbs(parser):
            parser.verb_hint = only
        args = parser.parse_args(words)
        output.reset(quiet=bool(args.quiet))
        if getattr(args, "all_users", False):
            code = _all_users(args)
            if code is not None:
                return code
        if args.run_as:
            from pgiam.host.privileges import drop_to

            drop_to(args.run_as)
        return dispatch(args)
    except PgiamError as e:
        print(f"pgiam: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("pgiam: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
