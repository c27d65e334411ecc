#!/usr/bin/env bash
# Train the shipped LoRA adapters (models/<schema>-smollm2/) on the generated training splits and
# score them on the held-out-layout test splits (the same documents as bench/zero_shot_baseline.sh).
#   bash bench/train_adapters.sh                    all three schemas
#   bash bench/train_adapters.sh invoice            one
#   EPOCHS=1 bash bench/train_adapters.sh project_report     (default 2 epochs)
# Run nothing else meanwhile (2 CPU cores). Writes models/<schema>-smollm2/{adapter,card.json,card.md}
# and bench/results/finetune/timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
EPOCHS=${EPOCHS:-2}
RESULTS=bench/results/finetune
mkdir -p "$RESULTS"
[ -f "$RESULTS/timings.tsv" ] || printf 'schema\tstep\tseconds\n' > "$RESULTS/timings.tsv"
declare -A N=([invoice]=160 [customer_email]=120 [project_report]=150)
# Extra training documents in a layout drawn per document (the same test documents either way).
declare -A AUGMENT=([invoice]=200 [customer_email]=0 [project_report]=0)
for schema in "${@:-invoice customer_email project_report}"; do
  for s in $schema; do
    data=data/synth/$s
    "$BIN/extractor" synth --schema "$s" --n "${N[$s]}" --seed 0 --augment "${AUGMENT[$s]}" --out "$data"
    start=$SECONDS
    "$BIN/extractor" finetune --schema "$s" --train "$data" --dev "$data" --test "$data" \
      --out "models/$s-smollm2" --epochs "$EPOCHS" --dev-limit 6 \
      --reproduce "$( [ "$EPOCHS" = 2 ] || printf 'EPOCHS=%s ' "$EPOCHS")bash bench/train_adapters.sh $s"
    printf '%s\tfinetune+test\t%s\n' "$s" "$((SECONDS - start))" >> "$RESULTS/timings.tsv"
  done
done
cat "$RESULTS/timings.tsv"
