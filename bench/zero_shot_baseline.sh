#!/usr/bin/env bash
# Zero-shot baseline of the embedded model on the held-out (test) layout families of each schema.
#   bash bench/zero_shot_baseline.sh            (about 25 minutes on 2 CPU cores)
# Writes bench/results/zero-shot/<schema>/{report.md,scores.json,f1.png} and timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
RESULTS=bench/results/zero-shot
mkdir -p "$RESULTS"
printf 'schema\tstep\tdocuments\tseconds\n' > "$RESULTS/timings.tsv"
declare -A N=([invoice]=160 [customer_email]=120 [project_report]=150)
for schema in invoice customer_email project_report; do
  data=data/synth/$schema
  start=$SECONDS
  "$BIN/extractor" synth --schema "$schema" --n "${N[$schema]}" --seed 0 --out "$data"
  printf '%s\tsynth\t%s\t%s\n' "$schema" "${N[$schema]}" "$((SECONDS - start))" >> "$RESULTS/timings.tsv"
  docs=$(find "$data/test" -type f | wc -l)
  start=$SECONDS
  "$BIN/extractor" run "$data/test" --schema "$schema" --out "out/zero-shot/$schema" --quiet || [ $? -eq 1 ]
  printf '%s\trun\t%s\t%s\n' "$schema" "$docs" "$((SECONDS - start))" >> "$RESULTS/timings.tsv"
  "$BIN/extractor" eval "out/zero-shot/$schema/$schema.parquet" --labels "$data/labels.jsonl" --split test \
    --out "$RESULTS/$schema"
done
cat "$RESULTS/timings.tsv"
