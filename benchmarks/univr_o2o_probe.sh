#!/usr/bin/env bash
# UNIVR offline-to-online on hopper-medium-v0, one seed: where does the policy go after the switch?
# Pretrains UNIVR offline for 50k gradient steps (seed SEED, checkpoints every 5k), then fine-tunes
# copies of it online (one update per env step, 10 evaluation episodes per point):
#   rerun-lambda0.01  π̄'s λ = 0.01 (Table 5's value), uniform buffer, 5k env steps: the fast collapse
#   lambda0.001-half  λ = 0.001 (seamrl's MuJoCo O2O default), 50/50 dataset/online batches, 10k env steps
# One process at a time; re-running resumes or skips what is done, then prints the table.
#   bash benchmarks/univr_o2o_probe.sh [OUT] [SEED]
set -euo pipefail
out=${1:-benchmarks/runs}; seed=${2:-0}
pre=$out/univr-o2o-pre; probe=$out/univr-o2o-probe; run=univr-hopper-medium-v0
JOBS=1 bash benchmarks/sweep.sh $pre 50000 univr hopper-medium-v0 $seed > /dev/null
JOBS=1 bash benchmarks/finetune.sh $pre $probe/rerun-lambda0.01 5000 500 $run --set ref_lambda=0.01 > /dev/null
JOBS=1 bash benchmarks/finetune.sh $pre $probe/lambda0.001-half 10000 1000 $run --set replay_init=half > /dev/null
seamrl table $probe/rerun-lambda0.01/$run $probe/lambda0.001-half/$run
