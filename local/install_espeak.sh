#!/usr/bin/env bash
# Installs the espeak-ng speech synthesizer (Debian/Ubuntu package espeak-ng), which
# blasr.prepare_digits runs to synthesize the digits corpus; nothing to do when it is on PATH.
#
#   local/install_espeak.sh
exec bash "$(dirname "$0")/install_deb.sh" espeak-ng espeak-ng
