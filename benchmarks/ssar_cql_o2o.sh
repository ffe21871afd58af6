#!/usr/bin/env bash
# SSAR Table 4 on the CQL backbone, on a CPU budget: CQL, CQL(SA) and Cal-QL pretrained offline on
# hopper-medium-v0 (10k gradient steps, one seed each), then fine-tuned online for ONLINE env steps
# (5k warm-up with the offline policy and no updates, then one update per env step):
#   CQL(SA) with each replay initialisation (part, none, all, half), CQL with `all`, Cal-QL with `half`.
# Two processes at a time (one per core); re-running resumes or skips what is done, then prints the table.
#   bash benchmarks/ssar_cql_o2o.sh [OUT] [ONLINE] [SEED]
set -euo pipefail
out=${1:-benchmarks/runs}; online=${2:-10000}; seed=${3:-0}
if [ "$online" -le 5000 ]; then echo "ONLINE must exceed the 5000-step warm-up, not $online" >&2; exit 2; fi
pre=$out/ssar-o2o-pre; ft=$out/ssar-o2o; task=hopper-medium-v0
decay=$((2 * (online - 5000)))   # β's cosine annealing N_end: twice the online updates (TD3+BC(SA) rows: 40k for 20k)
chain() {  # RUN INIT [RUN INIT ...]: fine-tune one after another
  while [ $# -gt 0 ]; do
    local extra="--set warmup_steps=5000 --set replay_init=$2"
    case $1 in cql_sa-*) extra="$extra --set beta_decay_steps=$decay" ;; esac
    JOBS=1 bash benchmarks/finetune.sh $pre $ft/replay-$2 $online $((online / 10)) "$1" $extra > /dev/null
    shift 2
  done
}
seamrl data build $task > /dev/null   # once, before two processes read it
JOBS=1 bash benchmarks/sweep.sh $pre 10000 "cql_sa" $task $seed --set n_update_period=500 --set iql_steps=100000 > /dev/null &
pretrain_sa=$!
JOBS=1 bash benchmarks/sweep.sh $pre 10000 "cql calql" $task $seed > /dev/null
chain cql-$task all calql-$task half &
baselines=$!
wait $pretrain_sa
chain cql_sa-$task part cql_sa-$task none &
wait $baselines
chain cql_sa-$task all cql_sa-$task half
wait
seamrl table $ft/replay-*/cql_sa-$task $ft/replay-all/cql-$task $ft/replay-half/calql-$task
