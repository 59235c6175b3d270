#!/usr/bin/env bash
# Installs Slurm's daemons and clients (Debian/Ubuntu packages munge and slurm-wlm) for the tests' single-node
# Slurm (tests/launch/slurm_cluster.py writes its own configuration and starts and stops the daemons itself);
# nothing to do when they are installed. The packages may start system services of their own; the tests do not use them.
#
#   local/install_slurm.sh
set -euo pipefail
# the daemons are in sbin, which is not on every PATH
export PATH="$PATH:/usr/sbin:/sbin"
bash "$(dirname "$0")/install_deb.sh" munge munged
exec bash "$(dirname "$0")/install_deb.sh" slurm-wlm slurmctld
