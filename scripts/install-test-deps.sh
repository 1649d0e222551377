#!/usr/bin/env bash
# Install the system packages the tests start as real servers, when they are missing.
# Debian/Ubuntu: apt-get (as root, or through sudo). Elsewhere: print what to install.
set -euo pipefail

missing=()
pg_ok() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && return 0
  fi
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
pg_ok || missing+=(postgresql)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing test servers: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install ${missing[*]} with your package manager, then rerun 'make test'" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "not root and no sudo: run 'apt-get install -y --no-install-recommends ${missing[*]}' as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts system services on install; the tests run their own on free ports.
if command -v service >/dev/null 2>&1; then
  for svc in postgresql prometheus prometheus-alertmanager prometheus-node-exporter; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi
