#!/usr/bin/env bash
# Offline comparison on the embedded dataset (50k transitions of a medium-ish Hopper-v5 policy):
# BC, TD3+BC, IQL and IVR (SQL), 3 seeds, 20k gradient steps, 10 evaluation episodes every 5k steps.
set -euo pipefail
out=${1:-benchmarks/runs/demo-offline}
for algo in bc td3bc iql ivr; do
  for seed in 0 1 2; do
    seamrl train $algo --task hopper-medium-demo-v0 --setting offline --offline-steps 20000 --eval-every 5000 \
      --seed $seed --out $out/$algo-s$seed --quiet > /dev/null
  done
done
seamrl table $out/*
