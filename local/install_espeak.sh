#!/usr/bin/env bash
# Installs the espeak-ng speech synthesizer (Debian/Ubuntu package espeak-ng),
# which blasr.data.digits runs to synthesize the digits corpus. Does nothing
# when espeak-ng is already on PATH. Installs with apt-get as root, or through
# sudo (which may ask for a password); otherwise it says what to install.
#
#   local/install_espeak.sh
set -euo pipefail
. "$(dirname "$0")/log.sh"

if command -v espeak-ng >/dev/null 2>&1; then
  log "espeak-ng is already installed: $(espeak-ng --version | head -n 1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  die "espeak-ng is not on PATH and there is no apt-get here: install the espeak-ng package with your system's package manager (e.g. 'dnf install espeak-ng', 'brew install espeak-ng')"
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  die "espeak-ng is not on PATH and this is not root and there is no sudo: ask an administrator to run 'apt-get install espeak-ng'"
fi

log "installing espeak-ng with apt-get"
# A fresh image often has no package lists; update them only when the package is unknown.
if ! apt-cache show espeak-ng >/dev/null 2>&1; then
  "${as_root[@]}" apt-get update -q || die "apt-get update failed; run 'apt-get update && apt-get install espeak-ng' by hand"
fi
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends espeak-ng \
  || die "apt-get install espeak-ng failed; install the espeak-ng package by hand"

command -v espeak-ng >/dev/null 2>&1 || die "apt-get installed espeak-ng but it is not on PATH ($PATH)"
log "installed $(espeak-ng --version | head -n 1)"
