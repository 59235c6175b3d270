#!/usr/bin/env bash
# Prints the decode directory (of those given) whose best_wer has the lowest %WER; the first on a tie.
# As Kaldi's utils/best_wer.sh, over directories:  bash local/best_wer_dir.sh exp/a/decode_x_ps0.7 exp/a/decode_x_ps1.0
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DECODE_DIR..." >&2; exit 1; }
for dir in "$@"; do
  [ -f "$dir/best_wer" ] || { echo "$0: $dir/best_wer does not exist (decode with --sweep first)" >&2; exit 1; }
  wer=$(awk '$1 == "%WER" { print $2; exit }' "$dir/best_wer")
  [ -n "$wer" ] || { echo "$0: $dir/best_wer has no %WER line" >&2; exit 1; }
  echo "$wer $dir"
done | sort -s -g -k1,1 | head -n 1 | cut -d' ' -f2-
