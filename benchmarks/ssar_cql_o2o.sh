#!/usr/bin/env bash
# SSAR Table 4 on the CQL backbone, on a CPU budget: CQL, CQL(SA) and Cal-QL pretrained offline
# (10k gradient steps), then fine-tuned online for ONLINE env steps (5k warm-up with the offline policy
# and no updates, then one update per env step): CQL(SA) with each replay initialisation in INITS
# (default: part none all half), CQL with `all`, Cal-QL with `half`.
# Two processes at a time (one per core); re-running resumes or skips what is done, then prints the table.
#   bash benchmarks/ssar_cql_o2o.sh [OUT] [ONLINE] [SEEDS] [TASK]
# PRE (default OUT/ssar-o2o-pre) holds the pretrained runs; a finished offline run there is reused, so
# PRE=benchmarks/runs/ssar-offline fine-tunes the offline table's 3-seed runs (their checkpoints are local).
set -euo pipefail
out=${1:-benchmarks/runs}; online=${2:-10000}; seeds=${3:-0}; task=${4:-hopper-medium-v0}
inits=${INITS:-part none all half}; pre=${PRE:-$out/ssar-o2o-pre}; ft=$out/ssar-o2o
if [ "$online" -le 5000 ]; then echo "ONLINE must exceed the 5000-step warm-up, not $online" >&2; exit 2; fi
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
JOBS=1 bash benchmarks/sweep.sh $pre 10000 "cql_sa" $task $seeds --set n_update_period=500 --set iql_steps=100000 > /dev/null &
pretrain_sa=$!
JOBS=1 bash benchmarks/sweep.sh $pre 10000 "cql calql" $task $seeds > /dev/null
chain cql-$task all calql-$task half &
baselines=$!
wait $pretrain_sa
sa=(); for init in $inits; do sa+=(cql_sa-$task $init); done
half=$(( (${#sa[@]} / 2 + 1) / 2 * 2 ))   # CQL(SA)'s runs in two chains: the first beside the baselines
chain "${sa[@]:0:$half}" &
wait $baselines
[ ${#sa[@]} -gt $half ] && chain "${sa[@]:$half}"
wait
seamrl table $(for init in $inits; do echo $ft/replay-$init/cql_sa-$task; done) $ft/replay-all/cql-$task $ft/replay-half/calql-$task
