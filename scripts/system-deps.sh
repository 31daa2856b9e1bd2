#!/usr/bin/env bash
# Install the Debian packages the test rig, the demo and the test suite need, when they are missing.
# As root (or with password-less sudo) it installs them; otherwise it says what to install and fails.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1; }
need=()
{ have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
have psql || need+=(postgresql-client)
have openssl || need+=(openssl)
have faketime || need+=(faketime)
have mandoc || need+=(mandoc)
have crontab || need+=(cron)
have systemd-analyze || need+=(systemd)
have runuser || need+=(util-linux)
have useradd || need+=(passwd)
have zsh || need+=(zsh)
have java || need+=(default-jre-headless)
[ -e /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)  # real pgjdbc for tests/test_jdbc.py
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif have sudo && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "pgiam: please install these Debian packages first: ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
# The rig runs its own throwaway cluster; don't let the package create and start another one.
"${sudo[@]}" mkdir -p /etc/postgresql-common
grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
  echo 'create_main_cluster = false' | "${sudo[@]}" tee -a /etc/postgresql-common/createcluster.conf >/dev/null
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
