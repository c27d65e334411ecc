"""Seconds per LoRA optimiser step: logits over every position (transformers' own loss) against
logits at the answer positions only (`answer_loss`, what `extractor finetune` uses).

    .venv/bin/python bench/finetune_step.py                       embedded SmolLM2-135M
    .venv/bin/python bench/finetune_step.py --model path/to.gguf  another base model
    -> bench/results/finetune_step.json (one entry per model, replaced on rerun)

Real training examples (the first --examples of data/synth/invoice's training split, regenerate
with `extractor synth --schema invoice --n 160 --seed 0 --augment 200 --out data/synth/invoice`),
batch 4, one example per forward pass, as the trainer runs them. The two ways alternate step by
step, so machine noise hits both alike; the ratio is the number to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "finetune_step.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default="data/synth/invoice")
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model

    from extractor.engines.model_store import resolve_model
    from extractor.engines.transformers import TransformersEngine
    from extractor.finetune.config import FinetuneConfig
    from extractor.finetune.data import IGNORE, build_examples, load_labelled
    from extractor.finetune.trainer import answer_loss, collate
    from extractor.schema import load_schema

    config = FinetuneConfig()
    schema = load_schema("invoice")
    started = time.perf_counter()
    engine = TransformersEngine(source=resolve_model(args.model), device="cpu")
    load_s = time.perf_counter() - started
    labelled = load_labelled(args.data, "train", schema, limit=args.examples)
    examples, _ = build_examples(labelled, schema, engine, config.max_seq_len, config.decoding, config.max_seq_len)
    torch.manual_seed(0)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=list(config.target_modules))
    model = get_peft_model(engine.model, lora)
    model.train()
    pad = engine.tokenizer.pad_token_id if engine.tokenizer.pad_token_id is not None else 0
    batches = [examples[i : i + config.batch_size] for i in range(0, len(examples), config.batch_size)]

    def step(batch: list, answer_only: bool) -> tuple[float, float]:
        start = time.perf_counter()
        total = 0.0
        for example in batch:
            inputs = collate([example], pad)
            loss = answer_loss(model, inputs) if answer_only else model(**inputs).loss
            (loss / len(batch)).backward()
            total += float(loss.detach()) / len(batch)
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start, total

    step(batches[0], True)  # warm-up: first-call allocations
    times: dict[str, list[float]] = {"all_positions": [], "answer_positions": []}
    losses: dict[str, list[float]] = {"all_positions": [], "answer_positions": []}
    for _ in range(args.rounds):
        for batch in batches:
            for name, answer_only in (("all_positions", False), ("answer_positions", True)):
                seconds, loss = step(batch, answer_only)
                times[name].append(seconds)
                losses[name].append(loss)
    full, answer = statistics.median(times["all_positions"]), statistics.median(times["answer_positions"])
    tokens = [len(e.input_ids) for e in examples]
    answers = [sum(label != IGNORE for label in e.labels) for e in examples]
    entry = {
        "model": engine.model_id,
        "vocab_size": int(engine.model.config.vocab_size),
        "parameters_m": round(sum(p.numel() for p in engine.model.parameters()) / 1e6, 1),
        "load_s": round(load_s, 1),
        "examples": len(examples),
        "mean_tokens": round(statistics.mean(tokens)),
        "mean_answer_tokens": round(statistics.mean(answers)),
        "step_s_all_positions": round(full, 2),
        "step_s_answer_positions": round(answer, 2),
        "speedup": round(full / answer, 2),
        "max_loss_difference": max(
            abs(a - b) for a, b in zip(losses["all_positions"], losses["answer_positions"], strict=True)
        ),
        "steps_timed_each": len(times["all_positions"]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[engine.model_id.split("@")[0]] = entry
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
