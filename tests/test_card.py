"""``python -m llmgeom card``: a reproduction card on tiny local models, its schema, families, merging, comparing,
and one clear line for every bad input."""

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import make_tokenizer, save_tiny_model
from llmgeom.cli import main
from llmgeom.experiments import card as cards
from llmgeom.experiments.scaling import layer_profile, null_exponent

SMALL = replace(cards.DEFAULT, c1_texts=4, c1_tokens=48, c3_texts=2, c3_tokens=32, c4_passages=10, c4_per_task=2,
                c5_texts=4, c5_literal_texts=6, c5_fact_texts=4, c6_triples=8, n_boot=50, n_resamples=50)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    return [str(save_tiny_model(tmp_path_factory.mktemp(f"card-w{w}"), context=128, width=w, layers=layers, seed=i))
            for i, (w, layers) in enumerate([(16, 1), (32, 2), (64, 2)])]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """A tiny BERT with random weights and the tiny tokenizer, saved to a folder."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = make_tokenizer()
    tokenizer.add_special_tokens({"cls_token": "[CLS]", "sep_token": "[SEP]"})
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_a_card_of_every_part_follows_its_schema_and_the_chapters_numbers(members):
    card = cards.make_card(members[1], settings=SMALL, progress=False)
    cards.validate(card)
    assert set(card["parts"]) == set(cards.PARTS) and not card["not_applicable"]
    assert json.loads(json.dumps(card)) == card  # JSON-ready
    c1 = card["parts"]["c1"]
    assert c1["n_tokens"] == 48 and c1["capped_by_length"] is False and c1["width"] == 32
    # C1 is chapter 2's layer profile of the same passages, averaged over passages
    from llmgeom.data.corpora import sample_passages
    from llmgeom.models.loading import load

    loaded = load(members[1])
    texts = [p.text for p in sample_passages("shakespeare", loaded.tokenizer, 4, 48, "heldout", 0)]
    profile = layer_profile(loaded, texts)
    np.testing.assert_allclose(c1["trained"]["all tokens"]["H"], profile["with_first"].mean(axis=0))
    np.testing.assert_allclose(c1["trained"]["without the first text token"]["H/ln d"],
                               profile["without_first"].mean(axis=0) / np.log(32))
    assert c1["trained_minus_random_H"]["mean"] == pytest.approx(np.mean(np.array(c1["per_passage"]["H"])
                                                                         - np.array(c1["per_passage"]["H_random"])))
    assert card["parts"]["c3"]["ridge_identity_max_relative_error"] < 1e-8
    assert card["size"]["width"] == 32 and card["provenance"]["seconds"]["total"] > 0


def test_a_card_is_cached_part_by_part(members, monkeypatch):
    first = cards.make_card(members[0], parts=("c1", "c6"), settings=SMALL, progress=False)
    calls = []
    monkeypatch.setitem(cards.PART_FUNCTIONS, "c1", lambda *a: calls.append("c1"))
    again = cards.make_card(members[0], parts=("c1", "c6"), settings=SMALL, progress=False)
    assert calls == [] and again["parts"] == first["parts"]


def test_a_one_block_model_gets_c4_at_its_only_block(members):
    card = cards.make_card(members[0], parts=("c4",), settings=SMALL, progress=False)
    assert card["parts"]["c4"]["blocks"] == [1]


def test_an_encoder_gets_c1_and_c6_and_a_line_for_the_rest(encoder):
    card = cards.make_card(encoder, settings=SMALL, progress=False)
    cards.validate(card)
    assert set(card["parts"]) == {"c1", "c6"}
    assert set(card["not_applicable"]) == {"feeding", "c3", "c4", "c5"}


def test_a_broken_card_is_refused_in_one_line(members, tmp_path):
    card = cards.make_card(members[0], parts=("c1",), settings=SMALL, progress=False)
    del card["parts"]["c1"]["per_passage"]
    with pytest.raises(ValueError, match="per_passage") as err:
        cards.validate(card)
    assert "\n" not in str(err.value)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        cards.read_card(tmp_path / "bad.json")


def test_family_fits_the_size_law_from_the_configs_and_merge_agrees(members, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cards, "DEFAULT", replace(SMALL, n_boot=200))
    out = tmp_path / "family.json"
    assert main(["card", "--family", ",".join(members), "--parts", "c1", "--out", str(out)]) == 0
    family = cards.read_card(out)
    widths = np.array(family["widths"])
    params = np.array(family["non_embedding_params"])
    np.testing.assert_array_equal(widths, [16, 32, 64])
    assert family["null_exponent"] == pytest.approx(null_exponent(widths, params))
    h = np.array([np.mean(m["parts"]["c1"]["per_passage"]["H"]) for m in family["members"]])
    from llmgeom.core.fit import fit_power_law

    assert family["size_law"]["H"]["trained"]["b"] == pytest.approx(fit_power_law(params, h).b)
    assert family["size_law"]["H/ln d"]["trained"]["low"] <= family["size_law"]["H/ln d"]["trained"]["high"]
    paths = []
    for i, member in enumerate(family["members"]):
        paths.append(tmp_path / f"member{i}.json")
        paths[-1].write_text(json.dumps(member))
    merged = tmp_path / "merged.json"
    assert main(["card", "--merge", *map(str, paths[::-1]), "--out", str(merged)]) == 0
    assert json.loads(merged.read_text())["size_law"] == family["size_law"]
    capsys.readouterr()
    assert main(["card", "--compare", str(paths[0]), str(paths[1]), str(out)]) == 0
    shown = capsys.readouterr().out
    assert "C1: last-layer H/ln d, all tokens" in shown and "null exponent" in shown


@pytest.mark.parametrize("argv, message, status", [
    (["card", "--model", "x", "--parts", "c9"], "unknown part", 2),
    (["card", "--compare", "/nonexistent/card.json"], "no such file", 2),
    (["card", "--family", "only-one"], "at least two", 2),
    (["card", "--model", "/nonexistent/model/folder"], "", 1),
])
def test_bad_input_gets_one_line(argv, message, status, capsys):
    try:
        assert main(argv) == status
    except SystemExit as stopped:  # argparse's own usage errors
        assert stopped.code == status
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmgeom: error:") and message in err and "\n" not in err


def test_device_and_dtype_reach_the_model_and_float64_agrees_with_float32(members):
    """The device plumbing on CPU (no GPU is lent to this project's tests): the card records where and in what
    precision it ran, and float64 entropies agree with float32 ones to 1e-4 relative."""
    f32 = cards.make_card(members[2], parts=("c1",), settings=SMALL, device="cpu", dtype="float32", progress=False)
    f64 = cards.make_card(members[2], parts=("c1",), settings=SMALL, device="cpu", dtype="float64", progress=False)
    assert (f32["provenance"]["device"], f32["provenance"]["dtype"]) == ("cpu", "torch.float32")
    assert f64["provenance"]["dtype"] == "torch.float64"
    np.testing.assert_allclose(f64["parts"]["c1"]["trained"]["all tokens"]["H"],
                               f32["parts"]["c1"]["trained"]["all tokens"]["H"], rtol=1e-4)
    assert f64["provenance"]["weights_fingerprint"] != f32["provenance"]["weights_fingerprint"]  # measured twice
    with pytest.raises(ValueError, match="not a torch dtype"):
        cards.make_card(members[2], parts=("c1",), settings=SMALL, dtype="float13", progress=False)


def test_batch_size_follows_free_memory_on_a_gpu_and_is_the_chapters_on_a_cpu(members):
    from llmgeom.models.loading import load

    loaded = load(members[1])  # 2 blocks of width 32, 4 heads
    assert cards.batch_size_for(loaded, 512) == cards.CPU_BATCH
    per_text = 4 * (3 * 512 * 32 + 2 * 4 * 512**2)
    assert cards.batch_size_for(loaded, 512, free_bytes=4 * per_text * 10) == 10
    assert cards.batch_size_for(loaded, 512, free_bytes=1) == 1
    assert cards.batch_size_for(loaded, 512, free_bytes=10**15) == 256
