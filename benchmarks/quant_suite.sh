#!/usr/bin/env bash
# Quantization acceptance + cost rows for RESULTS.md ("Quantization"). Every line appends to out/quant_results.jsonl.
#   bash benchmarks/quant_suite.sh acceptance   # resnet20 + the external GELU/concat model, real and gaussian data
#   bash benchmarks/quant_suite.sh cost         # BRECQ W4A4 and QAT W4A4 per shipped model: seconds, peak RSS
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-out/quant_results.jsonl}
EXT=benchmarks/external/gelu_concat_net.py:factory
EXT_W=${EXT_W:-out/gelu_concat_net.safetensors}
run() { PYTHONPATH=src $PY benchmarks/quant_bench.py --threads 2 --jsonl "$OUT" "$@"; }

case "${1:-acceptance}" in
acceptance)
  for data in real gaussian; do
    run --model resnet20 --method minmax --w-bits 8 --a-bits 8 --data $data
    run --model resnet20 --method brecq --w-bits 4 --a-bits 4 --data $data --onnx
    run --model resnet20 --method brecq --w-bits 2 --a-bits 4 --data $data
    run --model resnet20 --method qat --w-bits 4 --a-bits 4 --data $data
  done
  [ -f "$EXT_W" ] || PYTHONPATH=src $PY benchmarks/train_external.py --out "$EXT_W"
  run --model $EXT --weights "$EXT_W" --method minmax --w-bits 8 --a-bits 8 --data real
  run --model $EXT --weights "$EXT_W" --method brecq --w-bits 4 --a-bits 4 --data real --onnx
  run --model $EXT --weights "$EXT_W" --method qat --w-bits 4 --a-bits 4 --data real
  ;;
cost)
  for m in $(PYTHONPATH=src $PY -c "from lisq.models import list_models, pretrained_path; print(' '.join(n for n in list_models() if pretrained_path(n)))"); do
    run --model "$m" --method brecq --w-bits 4 --a-bits 4 --data real
    run --model "$m" --method qat --w-bits 4 --a-bits 4 --data real
  done
  ;;
esac
