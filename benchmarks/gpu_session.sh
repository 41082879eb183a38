#!/usr/bin/env bash
# What a session lent a GPU measures, as one prepared script (device time is short: ~15 min a task).
#
#   1. raw speed of the batched numerical step, GPU (results/numerical_throughput.*; the CPU rows
#      come from the same script run on the 2-core machine);
#   2. real searches on the GPU (results/numerical_search.*: cases named ...@cuda);
#   3. DistributedDataParallel training on CUDA: two processes through gloo on one GPU, the nccl
#      refusal when processes outnumber GPUs, and one nccl all-reduce;
#   4. a long GPU attempt at a Q-only rank (HEADLINE_CASE, default ⟨3,3,6;40⟩; ⟨2,4,5;32⟩ was
#      reached on 2026-12-04 this way): fitted points kept (fitted.tgz) for `fastmm finish`, and
#      the search itself finishes them (option finish, on for ring Q).
#
# Everything lands under $OUT (the device tool fetches it); merge it back with
#   python benchmarks/numerical_throughput.py --merge OUT/numerical_throughput.json
#   python benchmarks/numerical_search.py --merge OUT/numerical_search.json
# DEV=cpu and QUICK=1 run the same steps on the CPU, small, to check the script before a lease.
set -u
OUT=${OUT:-runs/gpu}
DEV=${DEV:-cuda}
QUICK=${QUICK:-0}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 FASTMM_CODE=${FASTMM_CODE:-unknown} OMP_NUM_THREADS=1
PY=${PY:-python3}
step() { echo "=== $(date +%T) $*"; }

if [ "$QUICK" = 1 ]; then
  BATCHES="64 256"; SHAPES="2,3,3:15"; SECS=0.5; SEEDS=1; LIM=10; BIG=256; HEADLINE=10
else
  BATCHES="64 1024 16384"; SHAPES="2,3,3:15 3,3,3:23 2,4,5:32"; SECS=1.5; SEEDS=5; LIM=20
  BIG=16384; HEADLINE=${HEADLINE:-120}
fi

step "machine"
nvidia-smi -L 2>/dev/null || true
$PY -c "import torch, numpy, sympy, numba; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__, 'sympy', sympy.__version__, 'numba', numba.__version__)"

step "1. throughput"
timeout 100 $PY benchmarks/numerical_throughput.py --device "$DEV" --threads 1 --batch $BATCHES \
  --shapes $SHAPES --optimizer als adam --seconds "$SECS" --out "$OUT/numerical_throughput"

step "2. searches"
timeout 60 $PY benchmarks/numerical_search.py --case als-233 --seeds "$SEEDS" --time-limit "$LIM" \
  --device "$DEV" --out "$OUT/numerical_search"
timeout 50 $PY benchmarks/numerical_search.py --case als-233 --seeds 3 --time-limit "$LIM" \
  --device "$DEV" --option batch=1024 --out "$OUT/numerical_search"
timeout 75 $PY benchmarks/numerical_search.py --case als-333 --seeds 2 --time-limit 30 \
  --device "$DEV" --option batch=1024 --out "$OUT/numerical_search"

step "3. DDP training on $DEV"
data="$OUT/tmp-fmnist"
$PY - "$data" <<'EOF'
import sys
from pathlib import Path

import numpy as np

from fastmm.nn.data import write_idx

d = Path(sys.argv[1])
d.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
for prefix, n in (("train", 256), ("t10k", 64)):
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 100, (n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):  # a bright band whose row gives the class
        images[i, 2 + 2 * int(label): 5 + 2 * int(label)] = 255
    write_idx(d / f"{prefix}-images-idx3-ubyte", images)
    write_idx(d / f"{prefix}-labels-idx1-ubyte", labels)
print("wrote", d)
EOF
train=(train --device "$DEV" --data-dir "$data" --model resnet8 --width 0.25 --r-ratio 1
       --epochs 1 --batch-size 32 --threads 1)
for backend in default gloo; do
  env_backend=()
  [ "$backend" = gloo ] && env_backend=(FASTMM_DIST_BACKEND=gloo)
  step "torchrun 2 processes, backend $backend"
  env "${env_backend[@]}" timeout 60 $PY -m torch.distributed.run --standalone --nproc_per_node 2 \
    cli.py "${train[@]}" --out "$OUT/tmp-ddp-$backend" > "$OUT/ddp-$backend.log" 2>&1
  echo "exit $?"; grep -v "^\s*$" "$OUT/ddp-$backend.log" | grep -iv "warn" | tail -n 8
done
if [ "$DEV" = cuda ]; then
  step "one nccl all-reduce (a process group of one rank per GPU)"
  MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 RANK=0 WORLD_SIZE=1 timeout 30 $PY -c "
import torch, torch.distributed as dist
dist.init_process_group('nccl'); t = torch.arange(4.0, device='cuda'); dist.all_reduce(t)
print('nccl', torch.cuda.nccl.version(), 'all_reduce ok:', t.tolist()); dist.destroy_process_group()"
fi
rm -rf "$data" "$OUT"/tmp-ddp-*

CASE=${HEADLINE_CASE:-als-336-q}
step "4. headline: $CASE, batch $BIG, ${HEADLINE} s"
rm -rf /tmp/fitted
timeout $((HEADLINE + 150)) $PY benchmarks/numerical_search.py --case "$CASE" --seeds 1 \
  --time-limit "$HEADLINE" --device "$DEV" --option batch="$BIG" --option save_fitted=/tmp/fitted \
  --out "$OUT/numerical_search"
[ -d /tmp/fitted ] && tar czf "$OUT/fitted.tgz" -C /tmp fitted && ls /tmp/fitted | wc -l
step "done"
