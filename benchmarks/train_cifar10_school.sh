#!/usr/bin/env bash
# The CIFAR-10 school's remaining trainings (issue 13), one after another on one thread, each resumable.
#
#     source .venv/bin/activate && OMP_NUM_THREADS=1 nohup bash benchmarks/train_cifar10_school.sh > /tmp/train/cifar10_school.log 2>&1 &
#
# Safe to start again after a session ends: a model whose record already has the queued epochs is skipped,
# an unfinished one resumes from its last finished epoch (checkpoints in src/lisq/models/weights/.train/).
# vgg7 is retrained at 45 epochs only while fewer than two teachers reach 87 % (its 30-epoch record: 86.90).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=src/lisq/models/weights
QUEUE=("shufflenetv2_32 30" "resnet14 45" "densenet_s 45" "vgg7 45")

record_epochs() {  # epochs behind ARCH's shipped CIFAR-10 weights (a warm restart's own plus its start's), 0 when none
    python -c "
import json, pathlib
p = pathlib.Path('$OUT/$1.cifar10.json')
r = json.loads(p.read_text()) if p.is_file() else {}
print(r.get('epochs', 0) + ((r.get('init') or {}).get('record') or {}).get('epochs', 0))"
}
teachers_at_87() {
    python -c "import json,pathlib; print(sum(json.loads(p.read_text())['test_top1'] >= 0.87 for p in pathlib.Path('$OUT').glob('*.cifar10.json') if not p.name.startswith(('resnet20a', 'resnet32a', 'mobilenetv2_050'))))"
}

for item in "${QUEUE[@]}"; do
    read -r arch epochs <<< "$item"
    if [ "$(record_epochs "$arch")" -ge "$epochs" ]; then
        echo "$arch: record has $epochs epochs already, skipped"; continue
    fi
    if [ "$arch" = vgg7 ] && [ "$(teachers_at_87)" -ge 2 ]; then
        echo "vgg7: two teachers already reach 87 %, not retrained"; continue
    fi
    resume=()
    [ -f "$OUT/.train/$arch.cifar10.pt" ] && resume=(--resume)
    echo "$(date -u +%FT%TZ) training $arch for $epochs epochs ${resume[*]}"
    lisq zoo train "$arch" --dataset cifar10 --epochs "$epochs" --threads 1 --out "$OUT" "${resume[@]}"
done
# Warm restart (issue 13's second 87 % teacher): resnet14 from its 45-epoch weights, a new one-cycle schedule at
# peak lr 0.02 for 15 more epochs (`--init`; its record keeps the 45-epoch record and adds the seconds).
has_init() { python -c "import json; print(int('init' in json.load(open('$OUT/$1.cifar10.json'))))"; }
if [ "$(has_init resnet14)" = 0 ] || [ -f "$OUT/.train/resnet14.cifar10.pt" ]; then
    resume=()
    [ -f "$OUT/.train/resnet14.cifar10.pt" ] && resume=(--resume)
    echo "$(date -u +%FT%TZ) warm restart of resnet14 for 15 epochs ${resume[*]}"
    lisq zoo train resnet14 --dataset cifar10 --epochs 15 --lr 0.02 --init resnet14.cifar10 --threads 1 --out "$OUT" "${resume[@]}"
fi
# The warm restart gave resnet14 86.74 -> 86.82, not 87; resnet20 is retrained at 45 epochs (vgg7 went
# 86.90 -> 87.58 from 30 to 45), resumable like the queue above.
if [ "$(record_epochs resnet20)" -lt 45 ]; then
    resume=()
    [ -f "$OUT/.train/resnet20.cifar10.pt" ] && resume=(--resume)
    echo "$(date -u +%FT%TZ) training resnet20 for 45 epochs ${resume[*]}"
    lisq zoo train resnet20 --dataset cifar10 --epochs 45 --threads 1 --out "$OUT" "${resume[@]}"
fi
echo "$(date -u +%FT%TZ) queue done"
