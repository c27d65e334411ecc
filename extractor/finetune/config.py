"""Fine-tuning settings: LoRA shape, optimiser, schedule, limits. Defaults suit the 135M model on a
CPU; every one is a CLI option."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from extractor.config import Cli

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class FinetuneConfig(BaseModel):
    """How an adapter is trained and scored while training."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Training")

    rank: int = Field(16, ge=1, description="LoRA rank")
    alpha: int = Field(32, ge=1, description="LoRA alpha (the update is scaled by alpha/rank)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    target_modules: tuple[str, ...] = Field(
        DEFAULT_TARGET_MODULES, min_length=1, description="Modules that get an adapter (comma-separated)"
    )
    learning_rate: Annotated[float, Cli("lr")] = Field(1e-3, gt=0, description="Peak learning rate")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of the steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    epochs: int = Field(3, ge=1, description="Passes over the training labels at most")
    batch_size: int = Field(4, ge=1, description="Examples per optimiser step.")
    micro_batch_size: int = Field(1, ge=1, description="Examples per forward pass (memory; same gradient).")
    max_seq_len: int = Field(2048, ge=128, description="Tokens per example; longer examples are cut")
    seed: int = Field(0, description="Same seed and data, same adapter")
    decoding: Literal["grounded", "json"] = Field("grounded", description="The decoding the adapter is trained for")
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
