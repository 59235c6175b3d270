#!/usr/bin/env bash
# Installs CMU Flite (Debian/Ubuntu package flite), the second speech synthesizer that
# blasr.prepare_digits --other-synth runs for the held-out test set; nothing to do when it is on PATH.
#
#   local/install_flite.sh
exec bash "$(dirname "$0")/install_deb.sh" flite flite
