#!/usr/bin/env bash
# Does the engine change accuracy? The shipped fine-tuned adapters on the held-out (test) layout families of
# each schema, grounded decoding, read by the transformers engine (adapter merged into the dequantised base)
# and by the llama.cpp engine (quantised GGUF base + the adapter as a GGUF LoRA), scored by `extractor eval`.
#   bash bench/engine_accuracy.sh      (about 25 minutes on 2 CPU cores; needs extractor[llamacpp])
# Writes bench/results/engine-accuracy/<schema>/{report.md,scores.json,f1.png,compare.png} and timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
RESULTS=bench/results/engine-accuracy
mkdir -p "$RESULTS"
printf 'schema\tengine\tdocuments\tseconds\n' > "$RESULTS/timings.tsv"
for schema in invoice customer_email project_report; do
  data=data/synth/$schema
  docs=$(find "$data/test" -type f | wc -l)
  for engine in transformers llamacpp; do
    out=out/engine-accuracy/$engine/$schema
    start=$SECONDS
    "$BIN/extractor" run "$data/test" --schema "$schema" --out "$out" --engine "$engine" --full --quiet || [ $? -eq 1 ]
    printf '%s\t%s\t%s\t%s\n' "$schema" "$engine" "$docs" "$((SECONDS - start))" >> "$RESULTS/timings.tsv"
  done
  "$BIN/extractor" eval "out/engine-accuracy/llamacpp/$schema" --labels "$data/labels.jsonl" --split test \
    --baseline "out/engine-accuracy/transformers/$schema" --out "$RESULTS/$schema"
done
cat "$RESULTS/timings.tsv"
