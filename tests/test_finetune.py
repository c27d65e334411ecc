"""Fine-tuning on the tiny random model: the loss drops, an interrupted run resumes to the same
weights, the card says what was trained, and the adapter loads through the CLI and the API."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from extractor.cli import app
from extractor.errors import ConfigError
from extractor.finetune import FinetuneConfig, finetune
from extractor.finetune.data import load_labelled
from extractor.finetune.targets import TargetStats, answer_text, unprinted
from extractor.schema import load_schema

SMALL = str(Path(__file__).with_name("small_schema.py")) + ":Small"
CONFIG = FinetuneConfig(
    epochs=3,
    batch_size=2,
    checkpoint_every=2,
    dev_limit=2,
    max_new_tokens=40,
    learning_rate=2e-2,
    warmup_ratio=0.0,
    max_seq_len=2048,
    patience=0,
    rank=4,
    alpha=8,
    # The tiny model's tied embeddings are too small to give confident logits through the body
    # alone, so its adapter also covers the output layer.
    target_modules=("q_proj", "v_proj", "o_proj", "down_proj", "lm_head"),
)


def _labelled(root: Path, train: int = 4) -> Path:
    """Text documents: `train` for training, two for dev."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(train + 2):
        ref, amount = f"R{i}X{i * 7}", f"{10 + i}.50"
        (root / f"doc{i}.txt").write_text(f"Ref: {ref}\nAmount: {amount}\nPaid: yes\n", encoding="utf-8")
        fields = {"ref": ref, "amount": amount, "paid": True, "kind": "a", "tags": [], "items": []}
        split = "train" if i < train else "dev"
        lines.append(json.dumps({"file": f"doc{i}.txt", "schema": "small", "split": split, "fields": fields}))
    (root / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    data = _labelled(tmp_path_factory.mktemp("labelled"))
    out = tmp_path_factory.mktemp("adapters") / "small-tiny"
    card = finetune(SMALL, data, data, out, model=str(tiny_model_dir), config=CONFIG, command="test")
    return out, card, data


def test_loss_drops_and_best_adapter_is_kept(trained: tuple[Path, dict, Path]) -> None:
    out, card, _ = trained
    losses = [h["train_loss"] for h in card["training"]["history"]]
    assert len(losses) == CONFIG.epochs
    assert losses[-1] < losses[0] * 0.9, losses
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert not (out / "checkpoint").exists(), "checkpoints are cleared after a finished run"


def test_card_fields(trained: tuple[Path, dict, Path], tiny_model_dir: Path) -> None:
    from extractor.engines.model_store import resolve_model, weights_sha256

    out, card, data = trained
    schema = load_schema(SMALL)
    on_disk = json.loads((out / "card.json").read_text())
    assert on_disk == json.loads(json.dumps(card))
    assert card["schema"] == {"name": schema.name, "fingerprint": schema.fingerprint}
    assert card["base"]["model"] == str(tiny_model_dir)
    assert card["base"]["sha256"] == weights_sha256(resolve_model(str(tiny_model_dir)))
    assert card["data"]["train"]["documents"] == 4 and card["data"]["dev"]["documents"] == 2
    assert card["data"]["train"]["sha256"] == load_labelled(data, "train", schema).sha256()
    assert card["hyperparameters"]["rank"] == 4 and card["hyperparameters"]["seed"] == 0
    assert card["training"]["steps"] == 3 * 2 and card["training"]["best_epoch"] >= 1
    assert card["created"] and card["command"] == "test" and card["decoding"] == "grounded"
    assert "## Reproduce" in (out / "card.md").read_text()


def test_resume_after_interruption_gives_the_same_weights(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = _labelled(tmp_path / "data", train=8)
    config = CONFIG.model_copy(update={"epochs": 1})  # 4 steps; the adapter kept is the final one
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    finetune(SMALL, data, data, straight, model=str(tiny_model_dir), config=config)
    with pytest.raises(KeyboardInterrupt):
        finetune(SMALL, data, data, resumed, model=str(tiny_model_dir), config=config, stop_after_steps=3)
    assert json.loads((resumed / "checkpoint" / "state.json").read_text())["step"] == 2  # step 3 is redone
    card = finetune(SMALL, data, data, resumed, model=str(tiny_model_dir), config=config)
    assert card["training"]["steps"] == 4
    first, second = load_file(straight / "adapter_model.safetensors"), load_file(resumed / "adapter_model.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        assert (first[name] == second[name]).all(), name
    # A rerun with other settings does not resume from a checkpoint made with these.
    with pytest.raises(KeyboardInterrupt):
        finetune(SMALL, data, data, tmp_path / "other", model=str(tiny_model_dir), config=config, stop_after_steps=2)
    other = config.model_copy(update={"learning_rate": 1e-2})
    caplog.clear()
    finetune(SMALL, data, data, tmp_path / "other", model=str(tiny_model_dir), config=other)
    assert "starting afresh" in caplog.text and "resuming" not in caplog.text


def test_adapter_loads_through_the_cli_merged(trained: tuple[Path, dict, Path], tmp_path: Path) -> None:
    out, _, data = trained
    result = CliRunner().invoke(
        app,
        ["run", str(data / "doc0.txt"), "--schema", SMALL, "--out", str(tmp_path / "o"), "--model", str(out), "-q"]
        + ["--max-new-tokens", "40"],
    )
    assert result.exit_code in (0, 1), result.output  # the random model may write a cut-off answer
    tables = [pq.read_table(p) for p in (tmp_path / "o").glob("*/run_date=*/*.parquet")]
    model_ids = {m for t in tables for m in t.column("model_id").to_pylist()}
    assert model_ids and all(m.startswith("small-tiny@") for m in model_ids)


def test_adapter_loads_through_the_api_and_refuses_another_schema(
    trained: tuple[Path, dict, Path], tmp_path: Path
) -> None:
    from extractor.api import Extractor
    from extractor.config import RunConfig

    out, _, data = trained
    extractor = Extractor(SMALL, model=out, config=RunConfig(max_new_tokens=40))
    assert not any("lora" in name for name, _ in extractor.engine.model.named_modules())  # merged
    result = extractor.run([data / "doc1.txt"])
    assert len(result.records) == 1 and result.model_id.startswith("small-tiny@")

    with pytest.raises(ConfigError, match="fine-tuned for a schema"):
        Extractor("invoice", model=out).run([data / "doc1.txt"])
    cli = CliRunner().invoke(
        app, ["run", str(data), "--schema", "invoice", "--out", str(tmp_path), "--model", str(out)]
    )
    assert cli.exit_code == 2 and "fine-tuned for a schema" in cli.output


def test_shipped_adapter_is_the_default_only_for_its_schema_version(
    trained: tuple[Path, dict, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import sys

    from extractor.engines import model_store

    out, card, _ = trained
    package = tmp_path / "shipped_models_for_test"
    shutil.copytree(out, package / out.name)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(model_store, "SHIPPED_ADAPTERS", "shipped_models_for_test")
    sys.modules.pop("shipped_models_for_test", None)
    fingerprint = card["schema"]["fingerprint"]
    assert model_store.model_for(None, "small", fingerprint) == str(package / out.name)
    assert model_store.model_for(None, "small", "0" * 16) is None  # schema changed since: the base model
    assert model_store.model_for(None, "invoice", fingerprint) is None
    assert model_store.model_for("embedded", "small", fingerprint) == "embedded"


def test_grounded_targets_are_the_printed_spans() -> None:
    schema = load_schema("invoice")
    text = "FACTURE F-17\nDate : 18 mai 2023\nÉchéance : 01/06/2023\nTotal TTC : 27 422,69 €\nCode 00100\nQté 100"
    label = {"invoice_number": "F-17", "invoice_date": "2023-05-18", "due_date": "2023-06-01", "total": "27422.69"}
    label["line_items"] = [{"description": "Farine", "quantity": "100", "unit_price": None, "amount": "5.00"}]
    stats = TargetStats()
    answer = json.loads(answer_text(schema, label, text, "grounded", stats))
    # Printed dates in the ISO form the prompt asks for (the grammar allows it for a printed date).
    assert answer["invoice_date"] == "2023-05-18" and answer["due_date"] == "2023-06-01"
    assert answer["total"] == "27 422,69"
    assert answer["line_items"][0]["quantity"] == "100"  # not the "00100" of the code
    # Not printed: kept as labelled (a number as a bare JSON number) and counted.
    assert answer["line_items"][0]["description"] == "Farine" and answer["line_items"][0]["amount"] == 5
    assert sorted(stats.not_in_document) == ["line_items[0].amount", "line_items[0].description"]
    assert list(answer) == [f.name for f in schema.fields]  # the schema's order, as the grammar writes it
    plain = json.loads(answer_text(schema, label, text, "json"))
    assert plain["invoice_date"] == "2023-05-18" and plain["total"] == 27422.69  # numbers bare


def test_unprinted_names_the_values_a_person_cannot_select_in_the_document() -> None:
    schema = load_schema("invoice")
    text = "FACTURE F-17\nDate : 18 mai 2023\nTotal TTC : 27 422,69 €"
    printed = {"invoice_number": "F-17", "invoice_date": "2023-05-18", "total": "27422.69"}
    assert unprinted(schema, printed, text) == []
    assert unprinted(schema, {**printed, "currency": "EUR"}, text) == ["currency"]  # only "€" is printed
    assert unprinted(schema, {"invoice_number": "F-18", "total": "-27422.69"}, text) == ["invoice_number", "total"]
    email = load_schema("customer_email")  # a field the model chooses, not a span: a person picks it too
    assert unprinted(email, {"intent": "refund"}, "Where is my money?") == []


def test_a_name_printed_only_approximately_is_trained_as_its_printed_span(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    from pydantic import BaseModel

    from extractor.engines.base import Constraint
    from extractor.extract.grammar import grounded_grammar

    class Receipt(BaseModel):
        company: str | None = None
        address: str | None = None
        city: str | None = None

    schema = load_schema(Receipt)
    text = "SANYU STAT1ONERY SHOP\nNO. 31G&33G, JALAN SETIA 1NDAH\nX U13/X, 40170 SETIA ALAM\nTOTAL 19.00"
    # A person's corrections with the spelling the OCR missed (across a line break in the address),
    # and a city the document never prints.
    label = {"company": "SANYU STATIONERY SHOP", "address": "NO. 31G&33G, JALAN SETIA INDAH X U13/X"}
    label["city"] = "Kuala Lumpur"
    stats = TargetStats()
    answer = answer_text(schema, label, text, "grounded", stats)
    expected = {"company": "SANYU STAT1ONERY SHOP", "address": "NO. 31G&33G, JALAN SETIA 1NDAH\nX U13/X"}
    assert json.loads(answer) == {**expected, "city": "Kuala Lumpur"}
    assert stats.nearest == ["company", "address"] and stats.not_in_document == ["city"]
    # The nearest spans are answers the grammar lets a model write.
    matcher = tiny_engine._matchers.compile(Constraint(lark=grounded_grammar(schema, text))).matcher
    written = json.dumps({**expected, "city": None}, ensure_ascii=False, separators=(", ", ": "))
    assert all(matcher.consume_token(t) for t in tiny_engine._ll_tokenizer.tokenize_str(written))
    assert matcher.is_accepting()


def test_labelled_set_errors_are_configuration_errors(tmp_path: Path) -> None:
    schema = load_schema(SMALL)
    with pytest.raises(ConfigError, match="not found"):
        load_labelled(tmp_path / "nowhere", "train", schema)
    data = _labelled(tmp_path / "d")
    with pytest.raises(ConfigError, match="no test labels"):
        load_labelled(data, "test", schema)


def test_finetune_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _labelled(tmp_path / "data")
    out = tmp_path / "adapter"
    args = ["finetune", "--schema", SMALL, "--train", str(data), "--dev", str(data), "--out", str(out)]
    args += ["--model", str(tiny_model_dir), "--epochs", "1", "--batch-size", "2", "--rank", "2", "--max-seq-len"]
    args += ["2048", "--target-modules", "q_proj,v_proj"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "epoch 1: train loss" in result.output and "adapter (best epoch 1)" in result.output
    card = json.loads((out / "card.json").read_text())
    assert card["hyperparameters"]["rank"] == 2 and card["hyperparameters"]["target_modules"] == ["q_proj", "v_proj"]
    assert card["command"].startswith("extractor ")
    bad = CliRunner().invoke(app, [*args[:-4], "--decoding", "nonsense"])
    assert bad.exit_code == 2


def test_answer_loss_equals_the_full_loss_and_its_gradients(tiny_engine) -> None:
    import torch

    from extractor.finetune.data import IGNORE, Example
    from extractor.finetune.trainer import answer_loss, collate

    model = tiny_engine.model
    torch.manual_seed(0)
    vocab = model.config.vocab_size
    # Two examples of different lengths (padding), answers at their ends.
    examples = []
    for length, answer in ((40, 7), (25, 4)):
        ids = torch.randint(3, vocab, (length,)).tolist()
        examples.append(Example("x", tuple(ids), tuple([IGNORE] * (length - answer) + ids[-answer:])))
    batch = collate(examples, pad_id=0)

    def grads(loss_fn) -> tuple[float, list]:
        model.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        return float(loss), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    full, full_grads = grads(lambda: model(**batch).loss)
    mine, my_grads = grads(lambda: answer_loss(model, batch))
    model.zero_grad(set_to_none=True)
    assert mine == pytest.approx(full, rel=1e-5)
    assert len(my_grads) == len(full_grads) > 0
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(my_grads, full_grads, strict=True))
    no_answer = collate([Example("y", (5, 6, 7), (IGNORE, IGNORE, IGNORE))], pad_id=0)
    with pytest.raises(ConfigError, match="no answer tokens"):
        answer_loss(model, no_answer)
