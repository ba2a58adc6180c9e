#!/usr/bin/env bash
# Quantization acceptance + cost rows for RESULTS.md ("Quantization"). Every line appends to out/quant_results.jsonl.
#   bash benchmarks/quant_suite.sh acceptance   # resnet20 + the two external GELU/concat models, real and gaussian data
#   bash benchmarks/quant_suite.sh cost         # BRECQ W4A4 and QAT W4A4 per shipped model: seconds, peak RSS
#   bash benchmarks/quant_suite.sh cost-small   # the same at a size that fits a shared 2-core box: 256 real
#                                               # images, BRECQ 100 steps/block, QAT 2 epochs, 1 thread
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-out/quant_results.jsonl}
EXT=benchmarks/external/gelu_concat_net.py:factory
EXT_W=${EXT_W:-out/gelu_concat_net.safetensors}
DENSE=benchmarks/external/gelu_concat_net.py:dense_factory
DENSE_W=${DENSE_W:-out/gelu_concat_dense.safetensors}
THREADS=${THREADS:-2}
run() { PYTHONPATH=src $PY benchmarks/quant_bench.py --threads "$THREADS" --jsonl "$OUT" "$@"; }
shipped() { PYTHONPATH=src $PY -c "from lisq.models import list_models, pretrained_path; print(' '.join(n for n in list_models() if pretrained_path(n)))"; }

case "${1:-acceptance}" in
acceptance)
  for data in real gaussian; do
    run --model resnet20 --method minmax --w-bits 8 --a-bits 8 --data $data
    run --model resnet20 --method brecq --w-bits 4 --a-bits 4 --data $data --onnx
    run --model resnet20 --method brecq --w-bits 2 --a-bits 4 --data $data
    run --model resnet20 --method qat --w-bits 4 --a-bits 4 --data $data
  done
  [ -f "$DENSE_W" ] || PYTHONPATH=src $PY benchmarks/train_external.py --factory dense_factory --out "$DENSE_W"
  run --model $DENSE --weights "$DENSE_W" --method minmax --w-bits 8 --a-bits 8 --data real
  run --model $DENSE --weights "$DENSE_W" --method brecq --w-bits 4 --a-bits 4 --data real --onnx
  run --model $DENSE --weights "$DENSE_W" --method brecq --w-bits 2 --a-bits 4 --data real
  run --model $DENSE --weights "$DENSE_W" --method qat --w-bits 4 --a-bits 4 --data real
  [ -f "$EXT_W" ] || PYTHONPATH=src $PY benchmarks/train_external.py --out "$EXT_W"
  run --model $EXT --weights "$EXT_W" --method minmax --w-bits 8 --a-bits 8 --data real
  run --model $EXT --weights "$EXT_W" --method brecq --w-bits 4 --a-bits 4 --data real --iters 1000 --onnx
  run --model $EXT --weights "$EXT_W" --method brecq --w-bits 2 --a-bits 4 --data real --iters 1000
  run --model $EXT --weights "$EXT_W" --method qat --w-bits 4 --a-bits 4 --data real --epochs 40
  ;;
cost)
  for m in $(shipped); do
    run --model "$m" --method brecq --w-bits 4 --a-bits 4 --data real
    run --model "$m" --method qat --w-bits 4 --a-bits 4 --data real
  done
  ;;
cost-small)
  THREADS=1
  for m in $(shipped); do
    run --model "$m" --method brecq --w-bits 4 --a-bits 4 --data real --num-samples 256 --iters 100
    run --model "$m" --method qat --w-bits 4 --a-bits 4 --data real --num-samples 256 --epochs 2
  done
  ;;
*) echo "usage: $0 acceptance|cost|cost-small" >&2; exit 2 ;;
esac
