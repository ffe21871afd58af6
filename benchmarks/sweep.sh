#!/usr/bin/env bash
# One `seamrl train --seeds` run per (algorithm, task): the seeds of a run train together (offline
# phases vmapped), JOBS runs at a time (default 2, one per core). Re-running skips finished runs and
# resumes killed ones. Extra arguments go to every `seamrl train` (e.g. --set alpha=2).
#   bash benchmarks/sweep.sh OUT STEPS "ALGO ..." "TASK ..." [SEEDS] [extra seamrl train args ...]
# SETTING (environment, default offline) picks what STEPS counts:
#   offline             STEPS offline gradient steps
#   online              STEPS env steps
#   offline-to-online   STEPS offline gradient steps, then ONLINE_STEPS env steps (default STEPS)
# Evaluation (10 episodes) and a resumable checkpoint every STEPS/10 steps of each phase.
set -euo pipefail
out=$1; steps=$2; algos=$3; tasks=$4; seeds=${5:-0,1,2}; shift 5 2>/dev/null || shift $#
extra="$*"; jobs=${JOBS:-2}; setting=${SETTING:-offline}; online_steps=${ONLINE_STEPS:-$steps}
case $setting in
  offline) budget="--offline-steps $steps" ;;
  online) budget="--online-steps $steps" ;;
  offline-to-online) budget="--offline-steps $steps --online-steps $online_steps" ;;
  *) echo "SETTING must be offline, online or offline-to-online, not '$setting'" >&2; exit 2 ;;
esac
one() {  # algo task
  local dir=$out/$1-$2
  if [ -f $dir/summary.json ]; then return; fi
  if [ -f $dir/seeds.json ]; then seamrl train --resume $dir --quiet > /dev/null; return; fi
  seamrl train $1 --task $2 --setting $setting $budget --eval-every $((steps / 10)) --seeds $seeds --out $dir --quiet \
    --set checkpoint_every=$((steps / 10)) $extra > /dev/null
}
export -f one; export steps out seeds extra setting budget
for task in $tasks; do
  case $task in *-v0) seamrl data build $task > /dev/null ;; esac   # suite datasets: build once, before runs share them
  for algo in $algos; do echo "$algo $task"; done
done | xargs -P $jobs -L 1 bash -c 'one $0 $1'
seamrl table $(for t in $tasks; do for a in $algos; do echo $out/$a-$t; done; done)
