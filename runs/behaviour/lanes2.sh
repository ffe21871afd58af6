#!/bin/bash
# Behaviour-policy training lanes (issue #3), second layout; resumable: re-run this script.
cd /work/main && source .venv/bin/activate
source <(sed -n '/^run() {/,/^}/p' runs/behaviour/lanes.sh)
wait_for() { while pgrep -f "runs/behaviour/$1 " > /dev/null || pgrep -f "runs/behaviour/$1\$" > /dev/null; do sleep 10; done; }
( wait_for sac-Hopper-v5-s1; run 0 sac-Hopper-v5-s1 Hopper-v5 1 80000 2500 ) &
( wait_for sac-HalfCheetah-v5-s0; run 1 sac-HalfCheetah-v5-s0 HalfCheetah-v5 0 350000 25000
  run 1 sac-HalfCheetah-v5-s1 HalfCheetah-v5 1 40000 2500
  run 1 sac-Ant-v5-s0 Ant-v5 0 200000 5000 ) &
( run 0 sac-Walker2d-v5-s0 Walker2d-v5 0 200000 5000 ) &
wait
