"""The LoRA training loop: deterministic, resumable, judged by field F1 on the dev set.

A plain torch loop rather than transformers' Trainer: the per-epoch evaluation is a constrained
generation run through the pipeline (not a loss), and resuming must give bit-identical weights, so
the loop owns its data order (a permutation per epoch drawn from the seed), its RNG state and its
checkpoints. Checkpoints (adapter, optimiser, schedule, RNG, position) are written atomically
every `checkpoint_every` steps and after each epoch; a rerun with the same settings and data
resumes from the last one. The best epoch's adapter is kept in the output folder.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.config import RunConfig
from extractor.errors import ConfigError
from extractor.evaluation import Scores, score_rows
from extractor.finetune.config import FinetuneConfig
from extractor.finetune.data import IGNORE, Example, LabelledSet
from extractor.pipeline import discover, run
from extractor.schema import SchemaInfo

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
_STATE = "state.json"
_TENSORS = "tensors.pt"


@dataclass
class Progress:
    """What a progress display needs, updated after every optimiser step."""

    total_steps: int
    step: int = 0
    epoch: int = 0
    loss: float = float("nan")
    phase: str = "train"


@dataclass
class TrainState:
    epoch: int = 0  # epoch in progress
    batch: int = 0  # next batch of that epoch
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    done: bool = False


def batches_for_epoch(examples: list[Example], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices per batch: shuffled by (seed, epoch), grouped by length within windows of
    a few batches so little compute goes to padding."""
    order = list(range(len(examples)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    window = batch_size * 8
    grouped: list[int] = []
    for start in range(0, len(order), window):
        grouped += sorted(order[start : start + window], key=lambda i: len(examples[i].input_ids))
    batches = [grouped[i : i + batch_size] for i in range(0, len(grouped), batch_size)]
    random.Random(f"{seed}:{epoch}:batches").shuffle(batches)
    return batches


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy of the answer tokens, the same value as `model(**batch).loss`, with the
    vocabulary projection computed only at the positions that predict an answer token. The
    prompt (instructions and document) is most of every example and its logits are never used;
    leaving them out makes a SmolLM2 step 1.17x and a Gemma 3 one (a 262k vocabulary) 1.89x
    faster on 2 CPU cores (bench/finetune_step.py), and their float32 logits are never held."""
    import torch

    labels = batch["labels"]
    targets = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)  # position t predicts token t + 1
    keep[:, :-1] = targets != IGNORE
    if not bool(keep.any()):
        raise ConfigError("a training example has no answer tokens (max_seq_len cut them all off)")
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep[:, :-1]])


class LoraTrainer:
    def __init__(
        self,
        engine: Any,
        schema: SchemaInfo,
        config: FinetuneConfig,
        examples: list[Example],
        dev: LabelledSet,
        out: Path,
        resume_key: str,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import get_cosine_schedule_with_warmup

        self.engine, self.schema, self.config, self.examples, self.dev, self.out = (
            engine,
            schema,
            config,
            examples,
            dev,
            out,
        )
        self.resume_key = resume_key
        self.on_progress = on_progress or (lambda p: None)
        torch.manual_seed(config.seed)  # LoRA's A matrices start random
        lora = LoraConfig(
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        )
        try:
            self.model = get_peft_model(engine.model, lora)
        except ValueError as exc:  # e.g. target modules the architecture does not have
            raise ConfigError(f"cannot attach LoRA to {engine.model_id}: {exc}") from exc
        engine.model = self.model  # dev evaluation generates through the adapter
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.steps_per_epoch = math.ceil(len(examples) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.scheduler = get_cosine_schedule_with_warmup(
            self.optimizer, int(config.warmup_ratio * self.total_steps), self.total_steps
        )
        self.state = TrainState()
        self.pad_id = engine.tokenizer.pad_token_id

    # -- the loop -------------------------------------------------------------------------------

    def train(self, stop_after_steps: int | None = None) -> TrainState:
        """Train to the end (or early stop). `stop_after_steps` simulates an interruption (tests)."""
        import torch

        self._resume()
        progress = Progress(self.total_steps, self.state.step, self.state.epoch)
        while not self.state.done and self.state.epoch < self.config.epochs:
            epoch = self.state.epoch
            batches = batches_for_epoch(self.examples, self.config.batch_size, self.config.seed, epoch)
            self.model.train()
            for index in range(self.state.batch, len(batches)):
                loss = self._accumulate([self.examples[i] for i in batches[index]])
                torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.state.step += 1
                self.state.batch = index + 1
                self.state.loss_sum += loss
                self.state.loss_count += 1
                progress.step, progress.epoch, progress.phase = self.state.step, epoch, "train"
                progress.loss = loss
                self.on_progress(progress)
                if self.state.step % self.config.checkpoint_every == 0:
                    self._checkpoint()
                if stop_after_steps is not None and self.state.step >= stop_after_steps:
                    raise KeyboardInterrupt(f"stopped after step {self.state.step}")
            progress.phase = "dev"
            self.on_progress(progress)
            self._end_epoch(epoch)
            self._checkpoint()
        return self.state

    def _accumulate(self, examples: list[Example]) -> float:
        """Gradients of one optimiser step, `micro_batch_size` examples per forward pass. Each
        micro-batch's mean loss is weighted by its share of the step's answer tokens, so the
        gradient equals that of one pass over the whole batch, at a fraction of the memory (the
        logits over a 49k vocabulary and the activations grow with every row)."""
        tokens = [sum(label != IGNORE for label in e.labels[1:]) for e in examples]
        total = max(sum(tokens), 1)
        size = self.config.micro_batch_size
        loss_sum = 0.0
        for start in range(0, len(examples), size):
            chunk = examples[start : start + size]
            share = sum(tokens[start : start + size]) / total
            batch = {k: v.to(self.engine.device) for k, v in collate(chunk, self.pad_id).items()}
            loss = answer_loss(self.model, batch) * share
            loss.backward()
            loss_sum += float(loss.detach())
        return loss_sum

    def _end_epoch(self, epoch: int) -> None:
        scores = self.evaluate(self.dev)
        train_loss = self.state.loss_sum / max(self.state.loss_count, 1)
        self.state.history.append(
            {
                "epoch": epoch + 1,
                "step": self.state.step,
                "train_loss": round(train_loss, 5),
                "dev_micro_f1": round(scores.micro_f1, 4),
                "dev_macro_f1": round(scores.macro_f1, 4),
            }
        )
        log.info("epoch %d: train loss %.4f, dev micro F1 %.3f", epoch + 1, train_loss, scores.micro_f1)
        if scores.micro_f1 > self.state.best_score:
            self.state.best_score, self.state.best_epoch, self.state.bad_epochs = scores.micro_f1, epoch + 1, 0
            self.save_adapter(self.out)
        else:
            self.state.bad_epochs += 1
            if self.config.patience and self.state.bad_epochs >= self.config.patience:
                log.info("no better dev score for %d epoch(s): stopping early", self.state.bad_epochs)
                self.state.done = True
        self.state.epoch, self.state.batch = epoch + 1, 0
        self.state.loss_sum, self.state.loss_count = 0.0, 0

    def evaluate(self, labelled: LabelledSet) -> Scores:
        """Field scores of the current weights on a labelled set, through the real pipeline."""
        import torch

        self.model.eval()
        run_config = RunConfig(decoding=self.config.decoding, max_new_tokens=self.config.max_new_tokens)
        with torch.inference_mode():
            result = run(discover([i.path for i in labelled.items]), self.schema, self.engine, run_config)
        self.model.train()
        rows = result.rows_table().to_pylist()
        errors = [e["source_path"] for e in result.errors_table().to_pylist()]
        return score_rows(rows, errors, labelled.gold(), labelled.labels_path.resolve().parent, self.schema)

    # -- weights and checkpoints -------------------------------------------------------------------

    def save_adapter(self, folder: Path) -> None:
        """The adapter weights (bfloat16: half the size, a rounding far below what training moves)."""
        import torch
        from peft import get_peft_model_state_dict

        state = {k: v.detach().to("cpu", torch.bfloat16) for k, v in get_peft_model_state_dict(self.model).items()}
        folder.mkdir(parents=True, exist_ok=True)
        readme = folder / "README.md"
        had_readme = readme.exists()
        self.model.save_pretrained(str(folder), state_dict=state)
        if not had_readme:
            readme.unlink(missing_ok=True)  # peft's template card; ours is card.md

    def _checkpoint(self) -> None:
        import torch
        from peft import get_peft_model_state_dict

        target = self.out / CHECKPOINT_DIR
        tmp = self.out / f"{CHECKPOINT_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(
            {
                "adapter": get_peft_model_state_dict(self.model),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            tmp / _TENSORS,
        )
        state = {"key": self.resume_key, **self.state.__dict__}
        (tmp / _STATE).write_text(json.dumps(state, indent=1))
        old = self.out / f"{CHECKPOINT_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    def _resume(self) -> None:
        import torch
        from peft import set_peft_model_state_dict

        target = self.out / CHECKPOINT_DIR
        if not (target / _STATE).is_file():
            old = self.out / f"{CHECKPOINT_DIR}.old"  # killed between the two renames
            if (old / _STATE).is_file():
                old.rename(target)
            else:
                return
        state = json.loads((target / _STATE).read_text())
        if state.pop("key") != self.resume_key:
            log.warning("%s was made with other settings or data; starting afresh", target)
            return
        tensors = torch.load(target / _TENSORS, weights_only=True)
        set_peft_model_state_dict(self.model, tensors["adapter"])
        self.optimizer.load_state_dict(tensors["optimizer"])
        self.scheduler.load_state_dict(tensors["scheduler"])
        torch.set_rng_state(tensors["torch_rng"])
        if tensors["cuda_rng"]:
            torch.cuda.set_rng_state_all(tensors["cuda_rng"])
        self.state = TrainState(**state)
        log.warning("resuming from %s at step %d (epoch %d)", target, self.state.step, self.state.epoch + 1)

    def clear_checkpoints(self) -> None:
        for name in (CHECKPOINT_DIR, f"{CHECKPOINT_DIR}.tmp", f"{CHECKPOINT_DIR}.old"):
            shutil.rmtree(self.out / name, ignore_errors=True)
