#!/usr/bin/env bash
# One training over several nodes with torchrun (no SLURM): run this script on every node.
#
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 bash examples/cluster/torchrun_multinode.sh     (on node0)
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 bash examples/cluster/torchrun_multinode.sh     (on node1)
#
# torchrun starts one process per GPU; Lightning detects torchelastic and joins them into one DDP job.
# Stop it with SIGTERM (every node): last.ckpt is written; run the same lines again to resume.
set -euo pipefail
NNODES=${NNODES:-2}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DATA_ROOT=${DATA_ROOT:-/data/places365}

.venv/bin/torchrun --nnodes "$NNODES" --node-rank "$NODE_RANK" --nproc-per-node "$GPUS_PER_NODE" \
  --master-addr "$MASTER_ADDR" --master-port "$MASTER_PORT" \
  -m inpaint_suite.cli fit --config aotgan_places2 --config ddp_8gpu \
  --trainer.devices "$GPUS_PER_NODE" --trainer.num_nodes "$NNODES" \
  --data.data_root "$DATA_ROOT" --run_name aotgan_places2_multinode --ckpt_path last
