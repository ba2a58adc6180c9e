#!/usr/bin/env bash
# Issue 13's CIFAR-10 measurements, one after another with two 1-thread workers; every step is resumable
# (the bench skips the cells already in its results.csv), so start it again after a session ends:
#
#     source .venv/bin/activate && nohup bash benchmarks/run_cifar10_bench.sh > /tmp/bench/cifar10.log 2>&1 &
#
# Order: the samplers and image-count ablations before the main recipe's remaining generators (its outcome may change the
# default sampler or size, and with it the main recipe's `lis` rows), then the rest of the main recipe, then the
# other CIFAR-10 ablations. Commit results/ between steps; `lisq bench --config C --dry-run` says what is left.
set -euo pipefail
cd "$(dirname "$0")/.."
bench() { lisq bench --jobs 2 --threads 1 --quiet "$@"; }
BRECQ=brecq-W4A4,brecq-W3A3,brecq-W2A4
bench --config configs/ablations/cifar10_samplers.yaml --generators lis-uniform,lis-all,lis-all-equal-cost
bench --config configs/ablations/cifar10_num_images.yaml
bench --config configs/cifar10.yaml --generators lis-hierarchical,real,gaussian,deepinversion --settings "$BRECQ"
bench --config configs/cifar10.yaml --generators zeroq,mixmix-hierarchical --settings "$BRECQ"
bench --config configs/cifar10.yaml
# the rows each ablation adds before its shared baseline (`lis`, `lis-all`): the baseline's cells are identical
# requests measured in another recipe (equal there), so they re-run last, as a determinism check
bench --config configs/ablations/cifar10_outside_teacher.yaml --generators lis-all+resnet20a,lis-all+resnet32a
bench --config configs/ablations/cifar10_student_teacher.yaml
bench --config configs/ablations/cifar10_speed.yaml --generators lis-full
bench --config configs/ablations/cifar10_samplers.yaml
bench --config configs/ablations/cifar10_outside_teacher.yaml
bench --config configs/ablations/cifar10_speed.yaml
echo "all CIFAR-10 steps done"
