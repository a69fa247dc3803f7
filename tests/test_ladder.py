"""The committed size ladder: loads, matches its logs, reproduces its held-out loss, is a real ladder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmgeom.models import ladder, training
from llmgeom.models import registry
from llmgeom.models.loading import load, non_embedding_parameters
from llmgeom.models.registry import ladder_checkpoints, ladder_models, training_log

LOSS_TOLERANCE = 0.02
"""Nats. The committed weights are fp16 copies of the trained fp32 weights, evaluated under bf16 autocast."""


def logs() -> dict[str, dict]:
    """Every committed model's log, the staged extra seeds and quarter-budget rungs included."""
    return {name: training_log(name) for name in ladder_models(everything=True)}


def full_budget() -> list[dict]:
    return [log for log in logs().values() if log.get("budget", 1.0) == 1.0]


def main_sizes() -> list[dict]:
    return [log for log in full_budget() if log["seed"] == 0]


@pytest.fixture(scope="module")
def data():
    return training.prepare_data()


def test_the_ladder_has_seven_sizes_spanning_two_decades():
    sizes = main_sizes()
    assert len(sizes) >= 7
    params = sorted(log["non_embedding_params"] for log in sizes)
    assert params[-1] / params[0] >= 100


def test_every_size_saw_the_same_tokens_in_the_same_order():
    all_logs = full_budget()
    assert len({log["tokens_seen"] for log in all_logs}) == 1
    assert len({log["data_checksums"]["train_tokens"] for log in logs().values()}) == 1
    assert all(log["data_seed"] == ladder.DATA_SEED and 0.99 <= log["epochs"] <= 1.01 for log in all_logs)


def test_every_size_has_its_seeds_and_a_quarter_budget_rung_that_saw_the_first_quarter_of_the_tokens():
    committed = logs()
    for size in ladder.ALL_MODELS:
        assert f"ladder-{size.name}" in committed, f"{size.name} is not committed; run make ladder"
    seeds = {}
    for log in full_budget():
        seeds.setdefault(log["width"], set()).add(log["seed"])
    assert all(len(s) >= 2 for s in seeds.values()) and len(seeds) == len(ladder.SIZES)
    assert all(len(seeds[s.width]) >= 3 for s in ladder.SIZES[:3])
    full_tokens = full_budget()[0]["tokens_seen"]
    quarter = [committed[f"ladder-{s.name}"] for s in ladder.QUARTER_BUDGET]
    assert all(log["budget"] == 0.25 and abs(log["tokens_seen"] / full_tokens - 0.25) < 0.01 for log in quarter)
    # a full schedule of its own: warm-up, then decay to a tenth of the peak by its last step
    assert all(log["curve"]["lr"][-1] == pytest.approx(0.1 * log["peak_learning_rate"], rel=0.05) for log in quarter)


def test_the_size_law_reads_every_seed_and_the_quarter_budget_separately():
    """ladder_models() lists the book ladder (chapters 5-7 read one model per size); chapter 2's family groups every
    committed seed by size, and the quarter-budget rungs form their own family of one seed per size."""
    from llmgeom.experiments.family import ladder_family

    assert set(ladder_models()) == {f"ladder-{s.name}" for s in ladder.BOOK_LADDER}
    full, quarter = ladder_family(), ladder_family(budget=0.25)
    seeds = {}
    for s in ladder.ALL_MODELS:
        if s.budget == 1:
            seeds.setdefault(s.width, set()).add(s.seed)
    assert full.n_seeds == [len(seeds[w]) for w in sorted(seeds)] and min(full.n_seeds) >= 2
    assert [sorted(m.seed for m in size) for size in full.sizes] == [sorted(seeds[w]) for w in sorted(seeds)]
    assert quarter.n_seeds == [1] * len(ladder.SIZES)
    np.testing.assert_array_equal(full.params, quarter.params)
    assert all(m.log["budget"] == 0.25 for m in quarter.members) and all(m.log.get("budget", 1) == 1 for m in full.members)


def test_validation_loss_falls_strictly_with_size():
    sizes = sorted(main_sizes(), key=lambda log: log["non_embedding_params"])
    losses = [log["final_val_loss"] for log in sizes]
    assert all(a > b for a, b in zip(losses, losses[1:])), losses


@pytest.mark.parametrize("name", list(ladder_models(everything=True)))
def test_committed_model_loads_and_matches_its_log(name):
    log = logs()[name]
    loaded = load(name)
    config = loaded.model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (
        log["width"], log["depth"], log["heads"])
    assert config.vocab_size == log["vocab_size"] and config.max_position_embeddings == log["context"]
    assert non_embedding_parameters(loaded.model) == log["non_embedding_params"]
    assert loaded.n_parameters == log["total_params"]


@pytest.mark.parametrize("name", list(ladder_models(everything=True)))
def test_held_out_loss_recomputed_now_matches_the_log(name, data):
    log = logs()[name]
    if data.checksums["heldout_works"] != log["data_checksums"]["heldout_works"]:
        pytest.skip("the held-out text here differs from the one the ladder was trained with (a corpus is missing)")
    chosen = np.random.default_rng(0).choice(len(data.heldout), size=24, replace=False)
    loaded = load(name)
    recomputed = training.evaluate(loaded.model, data.heldout[chosen], bf16=log["bf16_autocast"])
    logged = np.array(log["heldout_sequence_losses"])[chosen]
    assert np.abs(recomputed - logged).max() <= LOSS_TOLERANCE
    assert np.mean(log["heldout_sequence_losses"]) == pytest.approx(log["final_val_loss"], abs=1e-4)


def test_tokenizer_round_trips_text():
    loaded = load(next(iter(ladder_models())))
    text = "To be, or not to be: that is the question.\nCall me Ishmael. Ünïcödé — fine."
    ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert loaded.tokenizer.decode(ids) == text


def test_the_two_smallest_sizes_keep_five_loadable_checkpoints():
    smallest = sorted(main_sizes(), key=lambda log: log["non_embedding_params"])[:2]
    for name in [f"ladder-{log['name']}" for log in smallest]:
        checkpoints = ladder_checkpoints(name)
        assert len(checkpoints) == 5, name
        loaded = load(checkpoints[0])
        assert loaded.width == logs()[name]["width"]


def test_everything_under_models_fits_the_budget():
    total = sum(f.stat().st_size for f in registry.LADDER_DIR.rglob("*") if f.is_file())
    assert total <= 180 * 2**20, f"models/ holds {total / 2**20:.1f} MiB"


def test_schedule_warms_up_then_decays_to_a_tenth():
    peak, total = 1e-3, 1000
    rates = [training.lr_at(step, total, peak) for step in range(total)]
    assert rates[0] < rates[19] == pytest.approx(peak)
    assert rates[-1] == pytest.approx(0.1 * peak, rel=1e-2)
    assert all(a >= b - 1e-12 for a, b in zip(rates[20:], rates[21:]))


def test_training_a_micro_size_writes_a_complete_log(tmp_path, monkeypatch, data):
    monkeypatch.setattr(training, "LADDER_DIR", tmp_path)
    small = training.LadderData(data.tokenizer, data.train[:16], data.heldout[:4], data.heldout_corpus[:4],
                              data.checksums, [])
    size = ladder.Size(16, 1, 2, seed=3)
    info = training.train_size(size, small, log=lambda message: None)
    required = {"non_embedding_params", "total_params", "tokens_seen", "final_val_loss", "curve", "wall_time_s",
                "seed", "llmgeom_version", "data_checksums"}
    assert required <= set(json.loads((tmp_path / size.name / "training_log.json").read_text()))
    assert info["tokens_seen"] == 2 * ladder.BATCH_SEQUENCES * ladder.CONTEXT
    assert (tmp_path / size.name / "model.safetensors").exists()
    from safetensors import safe_open

    with safe_open(tmp_path / size.name / "model.safetensors", "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())


def test_every_committed_weight_file_has_a_recorded_checksum():
    for name, folder in ladder_models(everything=True).items():
        recorded = logs()[name]["weights_sha256"]
        assert set(recorded) == {str(f.relative_to(folder)) for f in folder.rglob("model.safetensors")}
        assert recorded == training.weight_checksums(folder)


@pytest.mark.parametrize("target", ["model.safetensors", "checkpoints/step-000015/model.safetensors"])
def test_a_corrupted_ladder_checkpoint_is_detected_by_its_recorded_hash(tmp_path, monkeypatch, target):
    import shutil

    from llmgeom.store.fetch import ModelUnavailable

    shutil.copytree(registry.LADDER_DIR / "w64-l1", tmp_path / "w64-l1")
    monkeypatch.setattr(registry, "LADDER_DIR", tmp_path)
    name = "ladder-w64-l1" + ("@step-000015" if "checkpoints" in target else "")
    assert load(name).width == 64  # intact copy loads
    weights = tmp_path / "w64-l1" / target
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="is corrupted"):
        load(name)


def test_every_committed_ladder_model_has_the_card_its_training_log_gives():
    from llmgeom.models.modelcard import ladder_folders, model_card, stale_cards

    folders = ladder_folders()
    assert len(folders) >= 7
    assert stale_cards() == [], "run 'python -m llmgeom.models.modelcard write' after training"
    card = model_card(folders[0])
    log = json.loads((folders[0] / "training_log.json").read_text())
    assert card.startswith("---\nlicense: mit\n") and f"{log['tokens_seen']:,} tokens in all" in card
    assert all(f"`{sha}`" in card for sha in log["weights_sha256"].values())


def test_a_card_that_drifts_from_its_log_is_stale(tmp_path):
    import shutil

    from llmgeom.models.modelcard import CARD_NAME, ladder_folders, stale_cards

    folder = tmp_path / ladder_folders()[0].name
    shutil.copytree(ladder_folders()[0], folder, ignore=shutil.ignore_patterns("*.safetensors", "checkpoints"))
    assert stale_cards(tmp_path) == []
    (folder / CARD_NAME).write_text((folder / CARD_NAME).read_text().replace("MIT", "Apache-2.0"))
    assert stale_cards(tmp_path) == [folder.name]
    (folder / CARD_NAME).unlink()
    assert stale_cards(tmp_path) == [folder.name]
