#!/usr/bin/env bash
# Source me after log.sh and parse_options.sh, in a recipe with the options --train-cmd (train_cmd) and
# --train-nproc (train_nproc): stage 3's command line for one network (docs/cluster.md).
#
#   train_line LOG PLAIN...   sets the array train_line to PLAIN, the recipe's own way to run blasr.train
#                             (python -m blasr.train, or torchrun over its GPUs); with --train-nproc N > 0
#                             to one torchrun of N processes on each node of the Slurm job that --train-cmd
#                             submits (local/slurm_torchrun.sh) instead; and with --train-cmd, to either of
#                             them run as one job of that launcher (split on white space, as Kaldi's
#                             $cuda_cmd) logging to LOG. The array train_program is the line without the
#                             launcher (for the log).
[[ $train_nproc =~ ^[0-9]+$ ]] || die "--train-nproc must be a whole number (0: ${train_nproc_zero:-one plain process}), not '$train_nproc'"

train_line() {
  local log=$1 launcher=()
  shift
  train_program=("$@")
  if [ "$train_nproc" -gt 0 ]; then
    train_program=(bash ../../local/slurm_torchrun.sh --nproc-per-node "$train_nproc")
  fi
  train_line=("${train_program[@]}")
  if [ -n "$train_cmd" ]; then
    read -r -a launcher <<< "$train_cmd"
    train_line=("${launcher[@]}" "$log" "${train_program[@]}")
  fi
}
