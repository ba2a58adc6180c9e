#!/bin/bash
# Acceptance runs of issue #3 (RESULTS.md, section "Synthesis"). Run from the repository root with the
# shipped weights in place; 2 CPU cores take about an hour. OUT defaults to runs/synth.
set -euo pipefail
PY=${PY:-python}
OUT=${OUT:-runs/synth}
JUDGES=${JUDGES:-mobilenetv2_050,resnet14,shufflenetv2_s}
mkdir -p "$OUT"

# 1. lis, default school, 1024 images, two workers
$PY -m torch.distributed.run --standalone --nproc_per_node=2 -m lisq synth --generator lis --num-images 1024 \
    --out "$OUT/lis" --overwrite --quiet
$PY -m lisq inspect "$OUT/lis" --judges "$JUDGES" --json > "$OUT/lis.quality.json"

# 2. deepinversion from each single teacher of the default school (256 images each, same settings)
for t in resnet8 resnet20 vgg7 mobilenetv2_100 densenet_s plaincnn; do
  $PY -m torch.distributed.run --standalone --nproc_per_node=2 -m lisq synth --generator deepinversion --teachers $t \
      --num-images 256 --out "$OUT/di_$t" --overwrite --quiet
  $PY -m lisq inspect "$OUT/di_$t" --judges "$JUDGES" --json > "$OUT/di_$t.quality.json"
done

# 3. benchmarks: loop overhead, peak RSS, P=1 vs P=2
$PY benchmarks/synth_bench.py overhead --iters 30 --batches 4
$PY benchmarks/synth_bench.py rss --num-images 128 --iters 30
$PY benchmarks/synth_bench.py world --num-images 256 --iters 30
