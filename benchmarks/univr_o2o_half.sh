#!/usr/bin/env bash
# UNIVR against IQL offline-to-online on DATASET (default hopper-medium-v0) with 50/50 dataset/online batches
# (`replay_init=half`), 3 seeds: 50k offline gradient steps (seeds vmapped, checkpoints every 5k), then
# ONLINE env steps (default 25k) with one update per env step and 10 evaluation episodes every 1k.
# UNIVR's online phase runs with its MuJoCo O2O preset (λ = 0.001, `univr.O2O_LOCOMOTION`). The two
# algorithms run side by side, one per core; re-running resumes or skips what is done.
#   bash benchmarks/univr_o2o_half.sh [OUT] [ONLINE] [DATASET]
set -euo pipefail
out=${1:-benchmarks/runs}; online=${2:-25000}; data=${3:-hopper-medium-v0}
pre=$out/univr-o2o-half-pre; dst=$out/univr-o2o-half
for algo in univr iql; do
  ( JOBS=1 bash benchmarks/sweep.sh $pre 50000 $algo $data > /dev/null
    JOBS=1 bash benchmarks/finetune.sh $pre $dst $online 1000 $algo-$data --set replay_init=half > /dev/null ) &
done
wait
seamrl table --early 5000 $dst/univr-$data $dst/iql-$data
