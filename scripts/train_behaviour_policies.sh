#!/usr/bin/env bash
# Train the SAC runs the seamrl suite's behaviour policies come from (issue #3), then choose and export them.
# Resumable: re-running skips finished runs and resumes killed ones from their last checkpoint.
# Budgets as used for the shipped policies (2 CPU cores, run concurrently):
#   long runs (expert):        Hopper 350k, HalfCheetah 350k, Walker2d 200k, Ant 400k env steps, seed 0
#   dense runs (medium, replay): Hopper 80k and HalfCheetah 40k, seed 1, a policy snapshot every 2.5k steps;
#                                Walker2d and Ant use their long run's 5k-step snapshots.
# SAC defaults (algorithms.md §7.3) except update_every=20 (20 env steps, then 20 updates: UTD 1, fewer host calls).
set -euo pipefail
run() {  # name task seed steps snapshot_every
  local d=runs/behaviour/$1
  if [ -f $d/summary.json ]; then return; fi
  if [ -f $d/config.json ]; then seamrl train --resume $d --quiet; return; fi
  seamrl train sac --task $2 --setting online --online-steps $4 --seed $3 --eval-every 5000 --eval-episodes 10 \
    --set update_every=20 --set checkpoint_every=25000 --set save_policy_every=$5 --out $d --quiet
}
( run sac-Hopper-v5-s0 Hopper-v5 0 350000 25000; run sac-Hopper-v5-s1 Hopper-v5 1 80000 2500
  run sac-Walker2d-v5-s0 Walker2d-v5 0 200000 5000 ) &
( run sac-HalfCheetah-v5-s0 HalfCheetah-v5 0 350000 25000; run sac-HalfCheetah-v5-s1 HalfCheetah-v5 1 40000 2500
  run sac-Ant-v5-s0 Ant-v5 0 400000 5000 ) &
wait
python scripts/make_suite_policies.py hopper runs/behaviour/sac-Hopper-v5-s0 runs/behaviour/sac-Hopper-v5-s1
python scripts/make_suite_policies.py halfcheetah runs/behaviour/sac-HalfCheetah-v5-s0 runs/behaviour/sac-HalfCheetah-v5-s1
python scripts/make_suite_policies.py walker2d runs/behaviour/sac-Walker2d-v5-s0 runs/behaviour/sac-Walker2d-v5-s0
python scripts/make_suite_policies.py ant runs/behaviour/sac-Ant-v5-s0 runs/behaviour/sac-Ant-v5-s0
seamrl data scores hopper halfcheetah walker2d ant --episodes 100
