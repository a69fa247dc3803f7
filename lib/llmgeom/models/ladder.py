"""The size ladder: GPT-NeoX (Pythia-architecture) models of 7 sizes, trained here on the same data and budget.

Appendix "The model ladder" documents the result; chapter 2 measures it. This module is the ladder's definition
(its sizes, seeds, budgets and configuration); :mod:`llmgeom.models.training` trains it (``make ladder``).

The recipe, identical for every size (only the width, depth and heads change; the learning rate follows the
width by a stated rule):

* data: the training split of every available corpus (held-out works never seen), tokenised with one
  byte-level BPE tokenizer trained on that split, cut into 512-token sequences, shuffled once with seed 0 —
  the same order for every size and seed; about one epoch;
* model: GPT-NeoX with rotary embeddings on a quarter of each head, parallel attention + MLP, MLP 4× the width,
  **tied input/output embeddings** (Pythia's are untied; tying keeps every committed model inside the
  repository's size budget);
* optimiser: AdamW (β = 0.9, 0.95; weight decay 0.1), 2 % linear warm-up then cosine decay to 10 % of the peak
  rate, gradient clipping at 1.0, peak rate ``min(3e-3, 3e-3 · sqrt(128 / d))``; bf16 autocast at every size
  (on this CPU it was faster than float32 at every width, most at the largest);
* held-out validation loss every tenth of training on a fixed subset, and on every held-out sequence at the end.

Beside the seven sizes: second and third training seeds (initialisation only) and a quarter-budget copy of every
size (:data:`EXTRA_SEEDS`, :data:`QUARTER_BUDGET`), same recipe; chapter 2's size law reads them all
(:mod:`llmgeom.experiments.family`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transformers import GPTNeoXConfig

CONTEXT = 512
VOCAB_SIZE = 2048
BATCH_SEQUENCES = 8
DATA_SEED = 0
EOS = "<|endoftext|>"
AUTOCAST_BF16 = True


@dataclass(frozen=True)
class Size:
    """One rung of the ladder."""

    width: int
    depth: int
    heads: int
    seed: int = 0
    budget: float = 1.0
    """The fraction of the training sequences seen (the first ones, in the shared order), with the whole learning-rate
    schedule compressed into it: a real short-budget model, not a mid-schedule checkpoint."""

    @property
    def name(self) -> str:
        suffix = "" if self.budget == 1 else ("-quarter" if self.budget == 0.25 else f"-budget{round(self.budget * 100)}")
        return f"w{self.width}-l{self.depth}" + (f"-seed{self.seed}" if self.seed else "") + suffix

    @property
    def learning_rate(self) -> float:
        return min(3e-3, 3e-3 * math.sqrt(128 / self.width))


SIZES = [
    Size(64, 1, 4),
    Size(96, 2, 4),
    Size(128, 3, 4),
    Size(192, 3, 6),
    Size(256, 4, 8),
    Size(320, 5, 8),
    Size(384, 6, 8),
]
"""The ladder, smallest first: about 50K to 10.6M non-embedding parameters."""

SEED_REPEATS = [Size(64, 1, 4, seed=1), Size(384, 6, 8, seed=1)]
"""Second training seeds (initialisation only; same data order) of the smallest and largest sizes."""

EXTRA_SEEDS = [Size(s.width, s.depth, s.heads, seed=1) for s in SIZES[1:-1]] + [
    Size(s.width, s.depth, s.heads, seed=2) for s in SIZES[:3]]
"""A second seed of every other size and a third of the three smallest, for the seed-inclusive intervals of chapter
2's size law, chapter 3 and the ladder appendix (:func:`llmgeom.experiments.family.ladder_family` groups them by
size)."""

QUARTER_BUDGET = [Size(s.width, s.depth, s.heads, budget=0.25) for s in SIZES]
"""Every size trained on the first quarter of the token budget with its own full schedule (one seed): chapter 2's
under-training comparison and the ladder appendix (``ladder_family(budget=0.25)``)."""

BOOK_LADDER = SIZES + SEED_REPEATS
"""One model per size and the first seed repeats: what :func:`llmgeom.models.registry.ladder_models` lists by default,
for the chapters that read single ladder models rather than the size law."""

ALL_MODELS = BOOK_LADDER + EXTRA_SEEDS + QUARTER_BUDGET
"""Every model ``python -m llmgeom.models.training train`` trains, in training order."""

CHECKPOINTED = {SIZES[0].name, SIZES[1].name}
"""Sizes that also keep intermediate checkpoints, for the training-dynamics figure of chapter 2."""


def gpt_neox_config(size: Size, vocab_size: int, eos_id: int) -> GPTNeoXConfig:
    """The Pythia-architecture configuration of one size (see the module docstring for what differs from Pythia)."""
    return GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=size.width,
        num_hidden_layers=size.depth,
        num_attention_heads=size.heads,
        intermediate_size=4 * size.width,
        max_position_embeddings=CONTEXT,
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
