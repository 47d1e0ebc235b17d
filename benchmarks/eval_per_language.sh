#!/usr/bin/env bash
# `rrr eval` on MultiPL-E one language at a time, then the whole table from the cached run.
#
# Each language is its own command so its wall time is measured and a partial run is still useful;
# they all share one run directory (the task selection is not part of its hash), so the last command
# only reads what the others wrote and prints the paper-shaped table.
#
#   benchmarks/eval_per_language.sh                 # --limit 2 -n 8, all eight languages
#   LIMIT=20 N=8 LANGS="python cpp" benchmarks/eval_per_language.sh
#   OUT=/tmp/eval benchmarks/eval_per_language.sh   # where the per-language JSON and times go
set -euo pipefail
LIMIT=${LIMIT:-2}
N=${N:-8}
LANGS=${LANGS:-"python cpp java php ts cs sh js"}
OUT=${OUT:-eval-out}
mkdir -p "$OUT"
for language in $LANGS; do
  start=$(date +%s)
  nice rrr eval --benchmark "humaneval-$language" --limit "$LIMIT" -n "$N" --json >"$OUT/$language.json"
  echo "$language: $(( $(date +%s) - start )) s for $LIMIT tasks x $N candidates" | tee -a "$OUT/times.txt"
done
rrr eval --benchmark multipl-e --languages "$(echo $LANGS | tr ' ' ',')" --limit "$LIMIT" -n "$N" \
  --markdown --plot "$OUT/eval.png" | tee "$OUT/table.md"
