"""Shared fixtures: an isolated cache, a tiny randomly initialised GPT-NeoX saved to a folder, and a tiny Llama
whose tokenizer adds a BOS (as Gemma's and Llama's do)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TINY_TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my "
    "purse, I thought I would sail about a little and see the watery part of the world. To be, or not to be, "
    "that is the question. "
) * 4


def make_tokenizer(vocab_size: int = 300):
    """A byte-level BPE fast tokenizer trained on a few sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TINY_TEXT], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache, except that downloads are shared (they are checksummed)."""
    from llmgeom.store import cache

    folder = cache.empty_results_cache(tmp_path / "cache")
    monkeypatch.setenv("LLMGEOM_CACHE", str(folder))
    yield folder


def save_tiny_model(folder, context: int, width: int = 32, layers: int = 2, seed: int = 0):
    """A GPT-NeoX (2 layers of width 32 unless told) with random weights and its tokenizer, saved to ``folder``."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = make_tokenizer()
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=width, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=2 * width, max_position_embeddings=context, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    GPTNeoXForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer GPT-NeoX (width 32, context 64) with random weights, saved with its tokenizer."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-gpt-neox"), context=64)


@pytest.fixture(scope="session")
def tiny_long_model_dir(tmp_path_factory):
    """The same tiny model with a 1024-token context, long enough for every chapter's passages."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-gpt-neox-long"), context=1024)


def make_bos_tokenizer():
    """A byte-level BPE tokenizer that, like Llama's or Gemma's, prepends ``<s>`` by default."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TINY_TEXT], trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="</s>")


@pytest.fixture(scope="session")
def bos_model(tmp_path_factory):
    """A 2-layer Llama (width 32) with random weights whose tokenizer adds a BOS, loaded with attentions."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama-bos")
    tokenizer = make_bos_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    from llmgeom.models.loading import load

    return load(str(folder), attentions=True)


def toc_entries(root: Path | None = None) -> list[str]:
    """Every document named in the book's ``_toc.yml``, as paths without suffix, in table-of-contents order (the
    site checks and the prose test read the same list)."""
    import yaml

    root = root or Path(__file__).resolve().parents[1]
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(item["file"])
            walk(item.get("sections"))
            walk(item.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return entries
