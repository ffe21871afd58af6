#!/usr/bin/env bash
# Carry run checkpoints across sessions on fresh machines: git ignores benchmarks/runs/**/checkpoints/, so a
# run still going when a session ends would start again from zero. This stages (git add -f) the latest
# checkpoint of every unfinished run under the given directories and unstages (git rm --cached) those of
# finished runs, unless FINISHED=keep (a pretraining run that a later fine-tuning resumes). Commit afterwards;
# the next session re-runs the same command (sweep.sh, finetune.sh) and it resumes from the checkpoint.
#   bash scripts/carry_checkpoints.sh DIR [DIR ...]
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bash scripts/carry_checkpoints.sh DIR [DIR ...]" >&2; exit 2; }
for ckpt in $(find "$@" -path '*/checkpoints/latest.ckpt' | sort); do
  run=$(dirname "$(dirname "$ckpt")")
  if [ -f "$run/summary.json" ] && [ "${FINISHED:-drop}" != keep ]; then
    if git ls-files --error-unmatch "$ckpt" > /dev/null 2>&1; then git rm --cached -q "$ckpt"; echo "dropped $ckpt"; fi
  else
    git add -f "$ckpt"; echo "carried $ckpt ($(du -h "$ckpt" | cut -f1))"
  fi
done
