"""Fine-tuning settings: LoRA shape, optimiser, schedule, limits. Defaults suit the 135M model on a
CPU; every one is a CLI option."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class FinetuneConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    learning_rate: float = Field(1e-3, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(4, ge=1, description="Examples per optimiser step.")
    micro_batch_size: int = Field(1, ge=1, description="Examples per forward pass (memory; same gradient).")
    max_seq_len: int = Field(2048, ge=128)
    seed: int = 0
    decoding: Literal["grounded", "json"] = "grounded"
    patience: int = Field(
        1, ge=0, description="Epochs without a better dev score before stopping; 0: never stop early."
    )
    dev_limit: int = Field(20, ge=0, description="Dev documents evaluated after each epoch (0: all).")
    checkpoint_every: int = Field(10, ge=1, description="Optimiser steps between resumable checkpoints.")
    max_new_tokens: int = Field(1024, ge=1, description="Answer budget when evaluating.")

    def training_key(self) -> dict[str, object]:
        """The settings a resumed run must share with the run it resumes (evaluation ones aside)."""
        return self.model_dump(
            exclude={"patience", "dev_limit", "checkpoint_every", "max_new_tokens", "micro_batch_size"}
        )
