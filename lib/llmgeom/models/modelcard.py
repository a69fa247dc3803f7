"""Model cards for the committed ladder, generated from each model's training log (``models/<name>/README.md``).

The ladder is described in the appendix "The model ladder" (``notebooks/91_model_ladder.md``). A card says what the
model is, what it was trained on and how, what it is for and not for, and under which licence it is shared; every
number comes from ``training_log.json`` and ``config.json`` in the same folder, so a card cannot drift from its
model: ``python -m llmgeom.models.modelcard check`` (run by the tests) fails on a card that differs from the one its
log gives, and ``python -m llmgeom.models.modelcard write`` rewrites them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmgeom.store.paths import REPO_ROOT

LADDER_DIR = REPO_ROOT / "models"
CARD_NAME = "README.md"


def model_card(folder: Path) -> str:
    """The card of the ladder model in ``folder`` (Markdown), from its ``training_log.json`` and ``config.json``."""
    log = json.loads((folder / "training_log.json").read_text(encoding="utf-8"))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    budget = log.get("budget", 1.0)
    checks = log["data_checksums"]
    corpora = ", ".join(checks["corpora"])
    by_corpus = ", ".join(f"{c} {v:.3f}" for c, v in sorted(log["final_val_loss_by_corpus"].items()))
    weights = "\n".join(f"| `{path}` | `{sha}` |" for path, sha in sorted(log["weights_sha256"].items()))
    short = "" if budget == 1 else (f" It saw the first {budget:.0%} of the training sequences, with the whole "
                                    "learning-rate schedule compressed into them (an under-trained rung, not a checkpoint).")
    return f"""---
license: mit
library_name: transformers
pipeline_tag: text-generation
language: en
tags: [gpt_neox, llmgeom, size-ladder]
---

# ladder-{log['name']}

One rung of the size ladder that *The Geometry of LLM Information, executed* trains to test how representation
entropy changes with model size (the appendix "The model ladder"). Generated from this folder's
`training_log.json` by `python -m llmgeom.models.modelcard write`; do not edit by hand.

## Model

| | |
|---|---|
| architecture | Pythia-style GPT-NeoX decoder (`{config['architectures'][0]}`), parallel residual, rotary on a quarter of each head, tied embeddings |
| width × depth × heads | {log['width']} × {log['depth']} × {log['heads']} (MLP {config['intermediate_size']}) |
| parameters | {log['non_embedding_params']:,} non-embedding, {log['total_params']:,} in all |
| vocabulary, context | {log['vocab_size']:,} byte-level BPE tokens (the ladder's own tokenizer), {log['context']} tokens |
| weights | float16 (`model.safetensors`); trained in float32 with{'' if log['bf16_autocast'] else 'out'} bfloat16 autocast |
| initialisation seed | {log['seed']} (data order seed {log['data_seed']}) |

## Training

Trained from scratch with this repository (`python -m llmgeom.models.training train`, llmgeom
{log['llmgeom_version']}, torch {log['torch_version']}, {log['threads']} CPU threads, {log['wall_time_s'] / 60:.1f} min) on
public-domain English text: the training works of the corpora {corpora} (held-out works are never trained on).
{log['steps']:,} steps of {log['batch_tokens']:,} tokens, {log['tokens_seen']:,} tokens in all ({log['epochs']:.2f} epochs,
{log['tokens_seen'] / log['non_embedding_params']:.2f} tokens per non-embedding parameter), AdamW with peak learning rate
{log['peak_learning_rate']:.2g}.{short}

Held-out next-token loss at the end: {log['final_val_loss']:.3f} nats per token ({by_corpus}), on
{log['heldout_sequences']:,} held-out sequences.

Data checksums (SHA-256): training works `{checks['train_works']}`, held-out works `{checks['heldout_works']}`,
training tokens `{checks['train_tokens']}`, tokenizer `{checks['tokenizer']}`.

## Files

| file | SHA-256 |
|---|---|
{weights}

## Intended use and limits

A research and teaching artefact: small enough to train on a laptop CPU, so that a size law can be measured with
data, token budget and recipe held fixed. It is far from a useful language model (the loss above), has seen only
the public-domain works of the corpora above, and must not be used to generate text for anyone to rely on. Its larger rungs are the more under-trained ones (tokens per parameter above).

## Licence and citation

The weights are released under the MIT licence, like the code that trained them (`LICENSE` at the repository's
root); the training text is in the public domain. Cite the book with the repository's `CITATION.cff`.
"""


def ladder_folders(root: Path = LADDER_DIR) -> list[Path]:
    """Every committed ladder model folder (one with a training log), by name."""
    return sorted(f for f in root.iterdir() if (f / "training_log.json").is_file()) if root.is_dir() else []


def stale_cards(root: Path = LADDER_DIR) -> list[str]:
    """Names of the folders whose card is missing or differs from the one their log gives."""
    stale = []
    for folder in ladder_folders(root):
        card = folder / CARD_NAME
        if not card.is_file() or card.read_text(encoding="utf-8") != model_card(folder):
            stale.append(folder.name)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmgeom.models.modelcard", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["write", "check"])
    args = parser.parse_args(argv)
    if args.action == "write":
        for folder in ladder_folders():
            (folder / CARD_NAME).write_text(model_card(folder), encoding="utf-8")
        return 0
    stale = stale_cards()
    if stale:
        print(f"stale model cards: {', '.join(stale)}; run 'python -m llmgeom.models.modelcard write'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
