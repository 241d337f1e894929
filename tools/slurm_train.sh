#!/usr/bin/env bash
# Usage: GPUS=2 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args]
#
# Preemption and time limits: on SIGTERM every rank finishes its iteration,
# rank 0 writes an exact-resume checkpoint (named by WORK_DIR/last_checkpoint)
# and train.py exits with status 143 (130 for SIGINT); the same command with
# --resume continues from it, inside the epoch (docs/checkpoints.md).
#   - `sbatch --signal=TERM@120 --requeue ...` signals the ranks (srun's tasks)
#     120 s before the time limit; `--signal=B:TERM@120` signals this script
#     instead, and srun (exec'd below, it replaces the shell) forwards it.
#   - pass --resume (no value) from the first submission: with no checkpoint
#     yet it starts from scratch, so a requeued job picks up last_checkpoint.
#   - Slurm requeues a preempted job with --requeue; at the time limit requeue
#     it yourself, e.g. `scontrol requeue $SLURM_JOB_ID` when this exits 143.
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-2}
GPUS_PER_NODE=${GPUS_PER_NODE:-2}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${@:4}

export PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH
# exec: srun replaces this shell, so a signal sent to the script reaches
# srun, which forwards it to every python rank (no shell in between to
# swallow it); srun's exit status (143 after a SIGTERM stop) is the script's
exec srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u tools/train.py ${CONFIG} --launcher="slurm" ${PY_ARGS}
