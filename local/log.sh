#!/usr/bin/env bash
# Source me: `log message` prints a time-stamped line on stderr, `die message`
# prints it and exits 1.
log() { echo "[$(date '+%H:%M:%S')] ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]} $*" >&2; }
die() { echo "[$(date '+%H:%M:%S')] ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]} error: $*" >&2; exit 1; }
