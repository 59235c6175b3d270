#!/usr/bin/env bash
# Source me after log.sh: `needs STAGE PRODUCER PATH...` stops a recipe before stage STAGE starts when one
# of its inputs is missing or incomplete, naming what writes it (PRODUCER: a stage number, or a hint such
# as "give --arpa"), instead of letting a program fail on it halfway. A directory is complete when it
# holds the .completed marker its program writes last; a file when it is not empty.
#
#   needs 3 2 "$data/targets/train"        # stage 3 needs data/targets/train (...): run --stage 2 first (it writes it)
needs() {
  local stage=$1 producer=$2 path problem
  shift 2
  [[ $producer =~ ^[0-9]+$ ]] && producer="run --stage $producer first (it writes it)"
  for path in "$@"; do
    if [ -d "$path" ]; then
      [ -f "$path/.completed" ] && continue
      problem="incomplete: no .completed marker, its run did not finish"
    elif [ -s "$path" ]; then
      continue
    elif [ -e "$path" ]; then
      problem="empty"
    else
      problem="missing"
    fi
    echo "[$(date '+%H:%M:%S')] ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]} error: stage $stage needs $path ($problem): $producer" >&2
    exit 1
  done
}
