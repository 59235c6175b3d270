#!/usr/bin/env bash
# Installs a Debian/Ubuntu package that provides a command, unless the command is already on PATH:
# with apt-get as root, or through sudo (which may ask for a password); otherwise it says what to install.
#
#   local/install_deb.sh PACKAGE COMMAND      # e.g. local/install_deb.sh espeak-ng espeak-ng
set -euo pipefail
. "$(dirname "$0")/log.sh"
[ $# -eq 2 ] || die "usage: $0 PACKAGE COMMAND"
package=$1
command=$2

if command -v "$command" >/dev/null 2>&1; then
  log "$command is already installed ($package)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  die "$command is not on PATH and there is no apt-get here: install $package (or your system's equivalent) with its package manager"
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  die "$command is not on PATH and this is not root and there is no sudo: ask an administrator to run 'apt-get install $package'"
fi

log "installing $package with apt-get"
# A fresh image often has no package lists; update them only when the package is unknown.
if ! apt-cache show "$package" >/dev/null 2>&1; then
  "${as_root[@]}" apt-get update -q || die "apt-get update failed; run 'apt-get update && apt-get install $package' by hand"
fi
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "$package" \
  || die "apt-get install $package failed; install it by hand"

command -v "$command" >/dev/null 2>&1 || die "apt-get installed $package but $command is not on PATH ($PATH)"
log "installed $package ($command)"
