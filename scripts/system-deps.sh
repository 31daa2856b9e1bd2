#!/usr/bin/env bash
# Install the Debian packages pgiam's demo or test suite needs, when they are missing.
#   scripts/system-deps.sh demo   what `make demo` needs: PostgreSQL (server + psql) and openssl
#   scripts/system-deps.sh test   (the default) the demo's packages plus everything `make test` uses
# As root (or with password-less sudo) it installs them; otherwise it says what to install and fails.
# PGIAM_DEPS_LIST=1 prints the packages of the profile (missing or not) and installs nothing.
set -euo pipefail
profile="${1:-test}"
case "$profile" in
  demo|test) ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac
have() { command -v "$1" >/dev/null 2>&1; }
all=()
need=()
want() {  # want PACKAGE PRESENT-TEST...
  local pkg="$1"; shift
  all+=("$pkg")
  "$@" || need+=("$pkg")
}
initdb_present() { have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
# the demo: the test rig (a local PostgreSQL with TLS) and psql
want postgresql initdb_present
want postgresql-client have psql
want openssl have openssl
if [ "$profile" = test ]; then
  want faketime have faketime
  want mandoc have mandoc
  want man-db have man
  want cron have crontab
  want systemd have systemd-analyze
  want util-linux have runuser
  want passwd have useradd
  want zsh have zsh
  want fish have fish
  want default-jre-headless have java
  want libpostgresql-jdbc-java test -e /usr/share/java/postgresql.jar  # real pgjdbc for tests/libpq/test_jdbc.py
fi
if [ -n "${PGIAM_DEPS_LIST:-}" ]; then
  printf '%s\n' "${all[@]}"
  exit 0
fi
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif have sudo && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "pgiam: please install these Debian packages first: ${need[*]}" >&2
  exit 1
fi
echo "system-deps ($profile): installing ${need[*]}"
# The rig runs its own throwaway cluster; don't let the package create and start another one.
"${sudo[@]}" mkdir -p /etc/postgresql-common
grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
  echo 'create_main_cluster = false' | "${sudo[@]}" tee -a /etc/postgresql-common/createcluster.conf >/dev/null
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
