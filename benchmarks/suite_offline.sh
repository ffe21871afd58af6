#!/usr/bin/env bash
# Offline IQL and TD3+BC against BC on seamrl suite datasets (issue #3): 3 seeds, STEPS gradient steps
# (default 100k), 10 evaluation episodes every STEPS/10 steps, two runs at a time (one per core).
# Re-running it skips finished runs and resumes killed ones.
#   bash benchmarks/suite_offline.sh [STEPS] [OUT]
set -euo pipefail
steps=${1:-100000}
out=${2:-benchmarks/runs/suite-offline}
one() {  # algo dataset seed
  local dir=$out/$1-$2-s$3
  if [ -f $dir/summary.json ]; then return; fi
  if [ -f $dir/config.json ]; then seamrl train --resume $dir --quiet > /dev/null; return; fi
  seamrl train $1 --task $2 --setting offline --offline-steps $steps --eval-every $((steps / 10)) --seed $3 \
    --out $dir --quiet > /dev/null
}
export -f one; export steps out
for ds in hopper-medium-v0 walker2d-medium-replay-v0; do
  seamrl data build $ds > /dev/null   # build once, before the runs share it
  for algo in bc td3bc iql; do for seed in 0 1 2; do echo "$algo $ds $seed"; done; done
done | xargs -P 2 -L 1 bash -c 'one $0 $1 $2'
seamrl table $out/*
