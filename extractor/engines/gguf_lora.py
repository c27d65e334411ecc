"""A PEFT LoRA adapter as a GGUF LoRA file, so llama.cpp can apply it to the quantised base model.

llama.cpp adds the adapter at run time (`W x + scale * B (A x)`, scale = alpha / rank, as PEFT
does), so the base keeps its GGUF weights and the adapter its float32 values: nothing is
re-quantised. The conversion is what llama.cpp's `convert_lora_to_gguf.py` does for Llama and Gemma 3
models, with the `gguf` package transformers already needs:

- tensor names mapped to llama.cpp's (`model.layers.3.self_attn.q_proj` -> `blk.3.attn_q`), each
  as `<name>.weight.lora_a` (A, rank x inputs) and `.lora_b` (B, outputs x rank);
- for Llama models (SmolLM2), the rows of B for q and k permuted per head the way the GGUF stores q
  and k (llama.cpp's rotary embedding pairs neighbouring dimensions, Hugging Face's pairs the two
  halves of a head); Gemma 3 stores q and k as Hugging Face does (llama.cpp rotates it NeoX-style),
  so its rows stay as they are;
- `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`.

Converted once per adapter (keyed by the SHA-256 of its weights) into the cache folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.engines.model_store import cache_dir, file_sha256, written_whole
from extractor.errors import ConfigError

ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class Layout:
    """How llama.cpp stores one transformers architecture: its tensor names, and whether q and k rows
    are permuted per head."""

    gguf_arch: str  # llama.cpp's architecture name (general.architecture)
    permute_qk: bool


# transformers `model_type` -> layout. Others need their own mapping (llama.cpp's convert_hf_to_gguf.py
# says which tensors it permutes, reshapes or offsets for each).
LAYOUTS = {
    "llama": Layout("llama", permute_qk=True),
    "gemma3_text": Layout("gemma3", permute_qk=False),
}


def lora_gguf(adapter: Path, base: Path) -> Path:
    """The GGUF LoRA file for the PEFT adapter folder `adapter` on the base model folder `base`
    (its config.json), converted now if the cache does not hold it yet."""
    weights = adapter / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise ConfigError(f"adapter {adapter} has no {ADAPTER_WEIGHTS}")
    target = cache_dir() / "lora-gguf" / f"{adapter.name}-{file_sha256(weights)[:16]}.gguf"
    if target.is_file():
        return target
    with written_whole(target) as tmp:
        write_lora_gguf(adapter, base, tmp)
    return target


def write_lora_gguf(adapter: Path, base: Path, out: Path) -> None:
    import gguf
    import numpy as np
    from safetensors.torch import load_file  # adapters may be bfloat16, which numpy cannot hold

    lora = json.loads((adapter / "adapter_config.json").read_text())
    config = json.loads((base / "config.json").read_text())
    _check_supported(lora, config, adapter)
    layout = LAYOUTS[config["model_type"]]
    n_head = int(config["num_attention_heads"])
    n_kv_head = int(config.get("num_key_value_heads") or n_head)
    arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == layout.gguf_arch)
    names = gguf.get_tensor_name_map(arch, int(config["num_hidden_layers"]))

    pairs: dict[str, dict[str, Any]] = {}
    for name, tensor in load_file(str(adapter / ADAPTER_WEIGHTS)).items():
        if ".lora_A." in name:
            part = "a"
        elif ".lora_B." in name:
            part = "b"
        else:
            raise ConfigError(
                f"adapter {adapter}: tensor {name} is not a LoRA A or B matrix; llama.cpp cannot apply it"
            )
        hf_name = name.removeprefix("base_model.model.").replace(f".lora_{part.upper()}.weight", ".weight")
        pairs.setdefault(hf_name, {})[part] = tensor.float().numpy()

    writer = gguf.GGUFWriter(str(out), layout.gguf_arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lora["lora_alpha"]))
    for hf_name, ab in sorted(pairs.items()):
        if set(ab) != {"a", "b"}:
            raise ConfigError(f"adapter {adapter}: {hf_name} lacks its LoRA {'A' if 'a' not in ab else 'B'} matrix")
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None:
            raise ConfigError(f"adapter {adapter}: no llama.cpp tensor for {hf_name}")
        b = ab["b"]
        if layout.permute_qk and hf_name.endswith("self_attn.q_proj.weight"):
            b = permute_rows(b, n_head)
        elif layout.permute_qk and hf_name.endswith("self_attn.k_proj.weight"):
            b = permute_rows(b, n_kv_head)
        writer.add_tensor(gguf_name + ".lora_a", np.ascontiguousarray(ab["a"]))
        writer.add_tensor(gguf_name + ".lora_b", np.ascontiguousarray(b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def permute_rows(weights: Any, heads: int) -> Any:
    """Hugging Face's q/k row order (per head: first half, second half of the rotary pairs) to the
    GGUF's (pairs interleaved): the permutation llama.cpp's converter applies to q and k."""
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _check_supported(lora: dict[str, Any], config: dict[str, Any], adapter: Path) -> None:
    problems = []
    if config.get("model_type") not in LAYOUTS:
        problems.append(f"base architecture {config.get('model_type')!r} (supported: {', '.join(sorted(LAYOUTS))})")
    if lora.get("peft_type", "LORA") != "LORA":
        problems.append(f"adapter type {lora.get('peft_type')}")
    for flag in ("use_dora", "use_rslora"):
        if lora.get(flag):
            problems.append(flag)
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save"):
        if lora.get(key):
            problems.append(key)
    if problems:
        raise ConfigError(
            f"adapter {adapter} cannot be converted for llama.cpp ({', '.join(problems)}); use --engine transformers"
        )
