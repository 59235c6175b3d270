#!/usr/bin/env bash
# Network training across the nodes of a Slurm job: one torchrun per node (srun), the rendezvous on the job's
# first node, every process running python -m blasr.train with the options given here.
#
#   sbatch --nodes 2 --ntasks-per-node 1 --gres gpu:8 --cpus-per-task 32 --output exp/bl22/log/train.%j.log \
#     local/slurm_torchrun.sh --nproc-per-node 8 --arch bl_resnet22_a2b3 --data ... --exp exp/bl22 --resume auto
#   blasr-slurm --num-nodes 2 --gpu 8 exp/bl22/log/train.log bash local/slurm_torchrun.sh --nproc-per-node 8 ...
#
# --nproc-per-node N: processes per node (default 1; one per GPU). --rdzv-port P: the rendezvous port on the
# first node (default 29500 + the job id modulo 1000, so jobs sharing a node do not meet). The nodes need the same
# paths and environment as the submitting shell (sbatch --export=ALL, the default). Outside a Slurm job it stops.
set -euo pipefail

nproc=1
port=
while [ $# -gt 0 ]; do
  case $1 in
    --nproc-per-node) nproc=$2; shift 2 ;;
    --rdzv-port) port=$2; shift 2 ;;
    *) break ;;
  esac
done
[[ $nproc =~ ^[1-9][0-9]*$ ]] || { echo "$0: --nproc-per-node must be a whole number >= 1, not '$nproc'" >&2; exit 1; }
if [ -z "${SLURM_JOB_ID:-}" ] || [ -z "${SLURM_JOB_NODELIST:-}" ]; then
  echo "$0: not inside a Slurm job (no SLURM_JOB_ID): submit it with sbatch, or run it through blasr-slurm" >&2
  exit 1
fi
nodes=${SLURM_NNODES:-1}
port=${port:-$((29500 + SLURM_JOB_ID % 1000))}
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
echo "$0: $nodes node(s) x $nproc process(es), rendezvous $head:$port (job $SLURM_JOB_ID)" >&2
# one task per node, each a torchrun agent with the job's CPUs per task (srun does not take them from the
# job on every Slurm version); the python of this shell's PATH (the nodes see the same environment)
cpus=()
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then cpus=(--cpus-per-task "$SLURM_CPUS_PER_TASK"); fi
exec srun --nodes "$nodes" --ntasks "$nodes" --ntasks-per-node 1 ${cpus[@]+"${cpus[@]}"} \
  python -m torch.distributed.run --nnodes "$nodes" --nproc-per-node "$nproc" --rdzv-backend c10d \
  --rdzv-endpoint "$head:$port" --rdzv-id "$SLURM_JOB_ID" -m blasr.train "$@"
