"""Training the size ladder (:mod:`llmgeom.models.ladder` defines it): data, tokenizer, the training loop, saving.

``make ladder`` (or ``python -m llmgeom.models.training train``) trains every size that is not committed yet,
resuming an interrupted size from its last saved state. The recipe is in :mod:`llmgeom.models.ladder`'s docstring;
appendix "The model ladder" documents the result.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerFast

from llmgeom import __version__
from llmgeom.data.corpora import CORPORA, CorpusUnavailable, corpus_checksum, load_corpus
from llmgeom.models.ladder import (ALL_MODELS, AUTOCAST_BF16, BATCH_SEQUENCES, CHECKPOINTED, CONTEXT, DATA_SEED, EOS,
                                   VOCAB_SIZE, Size, gpt_neox_config)
from llmgeom.models.loading import non_embedding_parameters
from llmgeom.models.registry import LADDER_DIR
from llmgeom.store.cache import atomic_write_bytes, cache_dir, sha256_bytes, sha256_file


# ------------------------------------------------------------------------------------------------ data


def training_works():
    """Every work of every available corpus, with a one-line note for each corpus that is not."""
    works, notes = [], []
    for name in CORPORA:
        try:
            works += load_corpus(name)
        except CorpusUnavailable as err:
            notes.append(f"{name}: {err}")
    return works, notes


def train_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE tokenizer (GPT-2 style) trained on ``texts``, as a transformers fast tokenizer."""
    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, bos_token=EOS,
                                   model_max_length=CONTEXT)


def sequences(tokenizer, works) -> np.ndarray:
    """Works tokenised, joined with EOS, cut into ``[n, CONTEXT]`` sequences (the ragged tail dropped)."""
    stream = []
    for work in works:  # the backend tokenizer: whole works, no context-length warning
        stream += tokenizer.backend_tokenizer.encode(work.text, add_special_tokens=False).ids + [tokenizer.eos_token_id]
    stream = np.array(stream, dtype=np.int64)
    n = len(stream) // CONTEXT
    return stream[: n * CONTEXT].reshape(n, CONTEXT)


@dataclass
class LadderData:
    tokenizer: object
    train: np.ndarray  # [n, CONTEXT], already in the training order
    heldout: np.ndarray  # [m, CONTEXT]
    heldout_corpus: np.ndarray  # [m] corpus name of each held-out sequence
    checksums: dict
    notes: list


def prepare_data() -> LadderData:
    """The tokenizer (trained once, saved under ``models/tokenizer``) and the tokenised splits (cached)."""
    works, notes = training_works()
    train_works = [w for w in works if w.split == "train"]
    held_works = [w for w in works if w.split == "heldout"]
    folder = LADDER_DIR / "tokenizer"
    if (folder / "tokenizer.json").exists():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    else:
        tokenizer = train_tokenizer([w.text for w in train_works])
        tokenizer.save_pretrained(folder)
    train = sequences(tokenizer, train_works)
    order = np.random.default_rng(DATA_SEED).permutation(len(train))
    held_parts = [sequences(tokenizer, [w]) for w in held_works]
    heldout = np.concatenate(held_parts)
    heldout_corpus = np.concatenate([[w.corpus] * len(p) for w, p in zip(held_works, held_parts)])
    checksums = {
        "train_works": corpus_checksum(train_works),
        "heldout_works": corpus_checksum(held_works),
        "train_tokens": sha256_bytes(train.tobytes()),
        "tokenizer": sha256_file(folder / "tokenizer.json"),
        "corpora": sorted({w.corpus for w in works}),
    }
    return LadderData(tokenizer, train[order], heldout, heldout_corpus, checksums, notes)


# ---------------------------------------------------------------------------------------------- training


def lr_at(step: int, total: int, peak: float) -> float:
    """2 % linear warm-up, then cosine decay to 10 % of the peak."""
    warmup = max(1, int(0.02 * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model, data: np.ndarray, batch: int = 16, bf16: bool = False) -> np.ndarray:
    """Mean next-token loss (nats) of every sequence in ``data``."""
    model.eval()
    losses = []
    for start in range(0, len(data), batch):
        ids = torch.from_numpy(data[start : start + batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        )
        losses.append(loss.view(len(ids), -1).mean(dim=1).numpy())
    model.train()
    return np.concatenate(losses)


def save_model(model, folder: Path, tokenizer=None) -> None:
    """fp16 safetensors + config (+ tokenizer) into a temporary folder renamed into place.

    An existing ``checkpoints/`` subfolder is carried over into the new folder.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    half = type(model)(model.config)
    half.load_state_dict(model.state_dict())
    half.half().save_pretrained(tmp)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    if (folder / "checkpoints").exists():
        (folder / "checkpoints").replace(tmp / "checkpoints")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.replace(folder)


def train_size(size: Size, data: LadderData, log=print) -> dict:
    """Train one size (resuming from its saved state if interrupted); returns its training log."""
    folder = LADDER_DIR / size.name
    config = gpt_neox_config(size, len(data.tokenizer), data.tokenizer.eos_token_id)
    torch.manual_seed(size.seed)
    model = GPTNeoXForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=size.learning_rate, betas=(0.9, 0.95), weight_decay=0.1)
    steps = int(len(data.train) * size.budget) // BATCH_SEQUENCES
    eval_every = max(1, steps // 10)
    checkpoint_steps = sorted({max(1, int(steps * f)) for f in (0.02, 0.1, 0.25, 0.5, 0.75)})
    val_subset = data.heldout[np.random.default_rng(1).permutation(len(data.heldout))[:32]]
    state_path = cache_dir("ladder") / f"{size.name}.state.pt"
    history = {"step": [], "train_loss": [], "val_step": [], "val_loss": [], "lr": []}
    start_step, elapsed = 0, 0.0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, elapsed, history = state["step"], state["elapsed"], state["history"]
        torch.set_rng_state(state["rng"])
        log(f"{size.name}: resuming at step {start_step}/{steps}")
    model.train()
    began = time.perf_counter() - elapsed
    running = []
    for step in range(start_step, steps):
        rate = lr_at(step, steps, size.learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = rate
        ids = torch.from_numpy(data.train[step * BATCH_SEQUENCES : (step + 1) * BATCH_SEQUENCES])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=AUTOCAST_BF16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        running.append(loss.item())
        done = step + 1
        if done % 10 == 0 or done == steps:
            history["step"].append(done)
            history["train_loss"].append(float(np.mean(running)))
            history["lr"].append(rate)
            running = []
        if done % eval_every == 0 or done == steps:
            val = float(evaluate(model, val_subset, bf16=AUTOCAST_BF16).mean())
            history["val_step"].append(done)
            history["val_loss"].append(val)
            seconds = time.perf_counter() - began
            recent = history["train_loss"][-1] if history["train_loss"] else float(np.mean(running))
            log(f"{size.name}: step {done}/{steps}  train {recent:.3f}  val {val:.3f}  "
                f"{done * BATCH_SEQUENCES * CONTEXT / seconds:,.0f} tok/s")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": done,
                        "elapsed": seconds, "history": history, "rng": torch.get_rng_state()}, state_path)
        if size.name in CHECKPOINTED and done in checkpoint_steps:
            save_model(model, folder / "checkpoints" / f"step-{done:06d}")
    wall = time.perf_counter() - began
    final = evaluate(model, data.heldout, bf16=AUTOCAST_BF16)
    per_corpus = {c: float(final[data.heldout_corpus == c].mean()) for c in sorted(set(data.heldout_corpus))}
    info = {
        "name": size.name,
        "width": size.width,
        "depth": size.depth,
        "heads": size.heads,
        "seed": size.seed,
        "budget": size.budget,
        "data_seed": DATA_SEED,
        "non_embedding_params": non_embedding_parameters(model),
        "total_params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(data.tokenizer),
        "context": CONTEXT,
        "batch_tokens": BATCH_SEQUENCES * CONTEXT,
        "steps": steps,
        "tokens_seen": steps * BATCH_SEQUENCES * CONTEXT,
        "epochs": steps * BATCH_SEQUENCES / len(data.train),
        "peak_learning_rate": size.learning_rate,
        "bf16_autocast": AUTOCAST_BF16,
        "final_val_loss": float(final.mean()),
        "final_val_loss_by_corpus": per_corpus,
        "heldout_sequences": int(len(final)),
        "heldout_sequence_losses": [round(float(x), 5) for x in final],
        "wall_time_s": wall,
        "threads": torch.get_num_threads(),
        "checkpoint_steps": checkpoint_steps if size.name in CHECKPOINTED else [],
        "curve": history,
        "llmgeom_version": __version__,
        "torch_version": torch.__version__,
        "data_checksums": data.checksums,
        "data_notes": data.notes,
    }
    save_model(model, folder, data.tokenizer)
    info["weights_sha256"] = weight_checksums(folder)
    atomic_write_bytes(folder / "training_log.json", json.dumps(info, indent=1).encode())
    state_path.unlink(missing_ok=True)
    log(f"{size.name}: done in {wall / 60:.1f} min, held-out loss {info['final_val_loss']:.4f}")
    return info


def weight_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of the model's weights and of every checkpoint's, keyed by path relative to ``folder``."""
    return {str(f.relative_to(folder)): sha256_file(f) for f in sorted(folder.rglob("model.safetensors"))}


def is_trained(size: Size) -> bool:
    folder = LADDER_DIR / size.name
    return (folder / "training_log.json").exists() and (folder / "model.safetensors").exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmgeom.models.training", description="train the size ladder")
    parser.add_argument("command", choices=["train", "plan"])
    parser.add_argument("--only", nargs="*", help="names of the sizes to train (default: every missing one)")
    args = parser.parse_args(argv)
    todo = [s for s in ALL_MODELS if not is_trained(s) and (not args.only or s.name in args.only)]
    if args.command == "plan":
        for size in ALL_MODELS:
            print(f"{size.name:<16s} {'trained' if is_trained(size) else 'to train'}  lr {size.learning_rate:.2e}")
        return 0
    data = prepare_data()
    print(f"data: {len(data.train)} training and {len(data.heldout)} held-out sequences of {CONTEXT} tokens; "
          f"corpora {data.checksums['corpora']}", flush=True)
    for note in data.notes:
        print(f"note: {note}", flush=True)
    for size in todo:
        train_size(size, data, log=lambda message: print(message, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
