#!/usr/bin/env bash
# Issue 18, item 7, through the project's own path: 8 NB201 trials (the full network, C=16, N=5, on
# 32x32 cifar10-jpeg) recorded by `fhbench record` with 8 concurrent trials on one GPU
# (--workers 8 --gpus-per-trial 0.125) against one trial at a time (--workers 1 --gpus-per-trial 1),
# each into a fresh trace store; prints both wall times and their ratio, and verifies both stores.
# Prepared for a GPU session (about 6 minutes on one H100 at these settings); never run on a CPU-only
# machine (the GPU figures are left for a session that has one). On the device machine:
#
#   cp -r ../shared/data/cifar10-jpeg data/        # here, once; carry data/ and .venv
#   bash benchmarks/gpu_record_path.sh data "$OUT"
set -euo pipefail
data="${1:?usage: gpu_record_path.sh DATA_DIR OUT_DIR}"
out="${2:?usage: gpu_record_path.sh DATA_DIR OUT_DIR}"
mkdir -p "$out"
suite="$out/nb201-gpu-check.toml"
# suites/nb201.toml's network, data and training settings, 8 cells for 3 epochs
cat > "$suite" <<'TOML'
name = "nb201-gpu-check"
version = "1"
description = "suites/nb201.toml's settings, 8 cells, 3 epochs: recording throughput on one GPU."

[space]
name = "nb201"
channels = 16
cells_per_stage = 5
num_samples = 8
sample_seed = 0

[data]
dataset = "cifar10-jpeg"
train_size = 40000
val_size = 10000
test_size = 0
split_seed = 0
augment = "crop-flip"

[train]
epochs = 3
batch_size = 256
lr = 0.1
momentum = 0.9
weight_decay = 5e-4
lr_schedule = "linear"
record_test = true
seed = 0

[record]
window = 2
precision = "float16"

[estimate]
checkpoints = [1, 3]
repeats = 1
truth = "final_test_acc"
estimators = ["original"]
TOML
for setting in "8 0.125" "1 1"; do
    set -- $setting
    start=$(date +%s.%N)
    fhbench record "$suite" --device cuda --workers "$1" --gpus-per-trial "$2" --data-dir "$data" \
        --traces "$out/traces-w$1" > "$out/record-w$1.log" 2>&1
    end=$(date +%s.%N)
    echo "workers $1, gpus-per-trial $2: $(echo "$end - $start" | bc) s" | tee -a "$out/summary.txt"
    fhbench verify "$suite" --traces "$out/traces-w$1" >> "$out/summary.txt" 2>&1
done
