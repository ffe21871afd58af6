#!/usr/bin/env bash
# Fine-tune finished offline runs online: each RUN of SRC is copied to DST (the offline run stays as
# it was) and goes on with `seamrl train --resume DST/RUN --setting offline-to-online`. The result
# equals the offline-to-online run of the same seeds (tests/train/test_train_seeds.py); the copy
# needs SRC's local checkpoints. JOBS runs at a time (default 2); re-running resumes. Extra arguments
# go to every `seamrl train --resume` (e.g. --set replay_init=half --set beta_decay_steps=80000).
#   bash benchmarks/finetune.sh SRC DST ONLINE_STEPS EVAL_EVERY "RUN ..." [extra args ...]
set -euo pipefail
src=$1; dst=$2; online_steps=$3; eval_every=$4; runs=$5; shift 5; extra="$*"; jobs=${JOBS:-2}
mkdir -p $dst
one() {  # run
  [ -d $dst/$1 ] || cp -r $src/$1 $dst/$1
  seamrl train --resume $dst/$1 --setting offline-to-online --online-steps $online_steps --eval-every $eval_every --quiet \
    $extra > /dev/null
}
export -f one; export src dst online_steps eval_every extra
for run in $runs; do echo $run; done | xargs -P $jobs -L 1 bash -c 'one $0'
seamrl table $(for run in $runs; do echo $dst/$run; done)
