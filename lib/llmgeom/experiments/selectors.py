"""The token selectors' labels, spelled once: chapter 5 scores them, chapter 6 removes tokens by them, the cards
report them.

A label names a way to rank a text's context tokens for the last token's prediction. Each chapter's own tuple of
the selectors it uses (:data:`llmgeom.experiments.selection.SELECTORS`,
:data:`llmgeom.experiments.tokenselect.SELECTORS`, :data:`llmgeom.experiments.spread.SELECTORS`) is built from
these constants, so a label cannot differ between chapters.
"""

from __future__ import annotations



LASSO_STATE = "lasso (state)"
"""The paper's regression: Lasso of the last token's state on the context's states (chapter 5's primary)."""
LASSO_UPDATE = "lasso (update)"
"""This book's variant: Lasso of the last token's update (state after the block minus before)."""
HEAD_MEAN = "attention (head mean)"
BEST_HEAD = "attention (best head)"
ROLLOUT = "attention rollout"
VALUE_WEIGHTED = "value-weighted attention"
GRADIENT_X_INPUT = "gradient × input"
"""The signed sum over the embedding dimensions of gradient ⊙ input."""
GRADIENT_X_INPUT_L2 = "gradient × input (L2)"
"""The L2 norm of gradient ⊙ input: the unsigned form, reported beside the signed one."""
ID_MATCH = "id-match"
CONTENT_WORDS = "content words"
RECENCY = "recency"
"""The latest tokens first: the strongest trivial baseline of a causal language model."""
RANDOM = "random"
"""A fixed uniform draw per text: the chance level."""
POSITION_PRIOR = "position prior"
"""Each candidate scored by the ground truth's mean at its distance from the query, estimated on the other fold of
texts (:func:`llmgeom.core.metrics.position_prior`)."""
STRONGEST_BASELINE = "strongest trivial baseline"
"""The best of recency, the position prior and random for one ground truth, chosen on the other fold of texts."""

_HEAD = "attention (head {})"


def single_head(head: int) -> str:
    """The label of one attention head, ``"attention (head 3)"``."""
    return _HEAD.format(int(head))


def head_of(label: str) -> int | None:
    """The head a :func:`single_head` label names, or ``None`` for any other label."""
    prefix, suffix = _HEAD.split("{}")
    if label.startswith(prefix) and label.endswith(suffix) and label[len(prefix):-len(suffix)].isdigit():
        return int(label[len(prefix):-len(suffix)])
    return None
