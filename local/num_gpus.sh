#!/usr/bin/env bash
# Prints how many GPUs this process may use: the entries of CUDA_VISIBLE_DEVICES when it is set (empty or
# -1: none), else the GPUs `nvidia-smi -L` lists, else 0. Fast (no torch import): recipes call it for the
# default of --ngpu.
if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
  # CUDA stops at the first invalid entry; -1 (or nothing) hides every GPU
  count=0
  IFS=, read -r -a devices <<< "$CUDA_VISIBLE_DEVICES"
  for device in ${devices[@]+"${devices[@]}"}; do
    device=${device// /}
    [ -z "$device" ] || [[ $device == -* ]] && break
    count=$((count + 1))
  done
  echo $count
elif command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
else
  echo 0
fi
