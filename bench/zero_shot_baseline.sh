#!/usr/bin/env bash
# Zero-shot scores of the bare embedded model (no adapter) on the held-out (test) layout families of each schema.
#   bash bench/zero_shot_baseline.sh                       plain JSON-Schema decoding
#   DECODING=grounded bash bench/zero_shot_baseline.sh     grounded decoding, compared with the above
# About 25 minutes per decoding mode on 2 CPU cores. Run nothing else meanwhile: two processes with
# torch threads on 2 cores slow each other down several times over.
# Writes bench/results/zero-shot-<mode>/<schema>/{report.md,scores.json,f1.png[,compare.png]} and timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DECODING=${DECODING:-json}
RESULTS=bench/results/zero-shot-$DECODING
mkdir -p "$RESULTS"
printf 'schema\tstep\tdocuments\tseconds\n' > "$RESULTS/timings.tsv"
declare -A N=([invoice]=160 [customer_email]=120 [project_report]=150)
for schema in invoice customer_email project_report; do
  data=data/synth/$schema
  start=$SECONDS
  "$BIN/extractor" synth --schema "$schema" --n "${N[$schema]}" --seed 0 --out "$data"
  printf '%s\tsynth\t%s\t%s\n' "$schema" "${N[$schema]}" "$((SECONDS - start))" >> "$RESULTS/timings.tsv"
  docs=$(find "$data/test" -type f | wc -l)
  out=out/zero-shot-$DECODING/$schema
  start=$SECONDS
  "$BIN/extractor" run "$data/test" --schema "$schema" --out "$out" --decoding "$DECODING" --model embedded --full --quiet \
    || [ $? -eq 1 ]
  printf '%s\trun\t%s\t%s\n' "$schema" "$docs" "$((SECONDS - start))" >> "$RESULTS/timings.tsv"
  baseline=()
  if [ "$DECODING" != json ] && [ -d "out/zero-shot-json/$schema/$schema" ]; then
    baseline=(--baseline "out/zero-shot-json/$schema")
  fi
  "$BIN/extractor" eval "$out" --labels "$data/labels.jsonl" --split test --out "$RESULTS/$schema" \
    "${baseline[@]}"
done
cat "$RESULTS/timings.tsv"
