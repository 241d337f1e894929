#!/usr/bin/env bash
# Usage: bash tools/dist_infer.sh CONFIG CHECKPOINT GPUS INPUT --out DIR [infer_video.py args]
# INPUT: a folder of videos or a quoted glob ('clips/*.mp4'); the sorted
# inputs are shared out over the GPUS processes (rank r takes r, r+GPUS, ...)
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
INPUT=$4
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PY=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
$PY -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/infer_video.py" \
    "$INPUT" \
    $CONFIG \
    $CHECKPOINT \
    --launcher pytorch "${@:5}"
