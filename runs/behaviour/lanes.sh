#!/bin/bash
# Two CPU lanes of behaviour-policy training (issue #3); resumable: re-run this script.
# run spec: NAME:ENV:SEED:STEPS:SNAPSHOT_EVERY
cd /work/main && source .venv/bin/activate
run() {
  local cpu=$1 name=$2 env=$3 seed=$4 steps=$5 snap=$6
  local d=runs/behaviour/$name
  if [ -f $d/summary.json ]; then return; fi
  if [ -f $d/config.json ]; then
    python - "$d/config.json" "$steps" <<'PY'
import json, sys
p, steps = sys.argv[1], int(sys.argv[2])
c = json.load(open(p)); c["run"]["online_steps"] = steps; c["run"]["update_every"] = 20
json.dump(c, open(p, "w"), indent=2)
PY
    nice -n 0 seamrl train --resume $d --quiet >> $d.log 2>&1
  else
    nice -n 0 seamrl train sac --task $env --setting online --online-steps $steps --seed $seed \
      --eval-every 5000 --eval-episodes 10 --set update_every=20 --set checkpoint_every=25000 \
      --set save_policy_every=$snap --out $d --quiet >> $d.log 2>&1
  fi
}
( run 0 sac-Hopper-v5-s0 Hopper-v5 0 350000 25000
  run 0 sac-Hopper-v5-s1 Hopper-v5 1 80000 2500
  run 0 sac-Walker2d-v5-s0 Walker2d-v5 0 250000 5000 ) &
( run 1 sac-HalfCheetah-v5-s0 HalfCheetah-v5 0 350000 25000
  run 1 sac-HalfCheetah-v5-s1 HalfCheetah-v5 1 50000 2500
  run 1 sac-Ant-v5-s0 Ant-v5 0 250000 5000 ) &
wait
