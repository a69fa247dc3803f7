"""The sample sizes of the chapters, named once: the chapters read them, and so does the reproduction-cards page.

:class:`Settings` is what one measurement of each claim needs — how many passages, how long, which corpus, how many
bootstrap draws. :data:`CHAPTERS` holds the values the chapters use; a chapter's first cell reads its settings from
it, and the cards page builds its decoder cards with it (:func:`llmgeom.experiments.card.make_card`), so the page reads
every result the chapters cached and computes nothing new (``tests/test_card.py``). The card's quicker default
(:data:`llmgeom.experiments.card.DEFAULT`) is a :class:`Settings` too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Sample sizes of one measurement of every claim (the fields of a card, :mod:`llmgeom.experiments.card`).

    ``corpus`` is read by every part but C3, which reads ``c3_corpus`` (``None``: the same corpus); a corpus that is
    not available here falls back to Shakespeare, as in the chapters. ``c6_layers`` evenly spaced layers (the
    embeddings and the final state included) are measured for C6; ``None`` measures the final state only.
    """

    corpus: str = "shakespeare"
    feeding_texts: int = 16
    feeding_tokens: int = 128
    c1_texts: int = 16
    c1_tokens: int = 512
    c3_corpus: str | None = None
    c3_texts: int = 8
    c3_tokens: int = 256
    c3_noise_variance: float = 0.1
    c4_passages: int = 40
    c4_per_task: int = 20
    c4_input: int = 20
    c5_texts: int = 16
    c5_targets: int = 4
    c5_donors: int = 8
    c5_set_donors: int = 2
    c5_literal_texts: int = 64
    c5_literal_donors: int = 1
    c5_fact_texts: int = 32
    c5_k: int = 4
    c6_triples: int = 80
    c6_layers: int | None = None
    block_step: int = 3
    n_boot: int = 1000
    n_resamples: int = 2000
    seed: int = 0


CHAPTERS = Settings(
    corpus="shakespeare",   # chapters 5 and 6, and the feeding check of chapter 2 (its first corpus)
    feeding_texts=16,       # chapter 2's feeding check: passages ...
    feeding_tokens=128,     # ... of the companion's length
    c1_texts=32,            # chapter 2's layer profiles of the pretrained decoders: passages per corpus ...
    c1_tokens=128,          # ... of the companion's length
    c3_corpus="austen",     # chapter 4
    c3_texts=24,
    c3_tokens=256,
    c3_noise_variance=0.1,
    c4_passages=200,        # chapter 5
    c4_per_task=40,
    c4_input=20,
    c5_texts=20,            # chapter 6
    c5_targets=4,
    c5_donors=8,            # donors for every single token and the whole context (the oracle bracket) ...
    c5_set_donors=2,        # ... and for the two controls
    c5_literal_texts=525,   # the literal reading at scale: passages requested (a few drop, see passage_spread_texts) ...
    c5_literal_donors=1,    # ... each resampled from one donor (shared by all its sets: the differences are paired)
    c5_fact_texts=48,       # the natural-text control: passages a fact is planted in
    c5_k=4,
    c6_triples=320,         # chapter 7
    c6_layers=7,
    block_step=3,
    n_boot=1000,
    n_resamples=2000,
    seed=0,
)
"""The chapters' settings. Each chapter's first cell names the fields it reads."""


SECOND_DECODER_VARIABLE = "LLMGEOM_SECOND_DECODER"


def book_decoders() -> tuple[str, str]:
    """The chapters' two decoders: ``$LLMGEOM_MODEL`` (default SmolLM2-135M), then ``$LLMGEOM_SECOND_DECODER`` or, by
    default, Gemma-3-270M — a base model of another family — (SmolLM2 where the first is Gemma-3).

    ``LLMGEOM_SECOND_DECODER`` is for a reader who declines the Gemma Terms of Use (the page "Models and data"): any
    model ``load`` accepts takes Gemma's place, and ``python -m llmgeom fetch`` then never downloads Gemma.

    Raises
    ------
    ValueError
        One line, when both decoders are the same model.
    """
    first = os.environ.get("LLMGEOM_MODEL", "").strip() or "smollm2-135m"
    second = os.environ.get(SECOND_DECODER_VARIABLE, "").strip() or (
        "gemma-3-270m" if first != "gemma-3-270m" else "smollm2-135m")
    if second == first:
        raise ValueError(f"the book's two decoders must differ; LLMGEOM_MODEL and {SECOND_DECODER_VARIABLE} both name "
                         f"{first!r}")
    return first, second


DISPLAY_NAMES = {"smollm2-135m": "SmolLM2", "gemma-3-270m": "Gemma-3-270M", "minilm-l6": "MiniLM-L6"}
"""Short names for the built-in models in figures and tables."""


def display_name(model: str) -> str:
    """How figures and tables name ``model``: a built-in model's short name, anything else as given."""
    return DISPLAY_NAMES.get(model, model)
