"""One forward pass for every measurement: extraction (chapters 2–7), masked runs (chapters 5–6) and losses.

:func:`run_model` puts the inputs on the model's device, runs without gradients or a key/value cache, and
computes only what is asked for: hidden states from the backbone alone (no vocabulary projection, a fifth of
SmolLM2's forward pass), or the logits at the last positions only (``logits_to_keep`` where the architecture has
it). :func:`progress_disabled` is the one rule for showing progress bars.
"""

from __future__ import annotations

import sys

import torch

from llmgeom.models import LoadedModel


@torch.no_grad()
def run_model(
    loaded: LoadedModel,
    ids: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    hidden_states: bool = False,
    attentions: bool = False,
    last_logits: int | None = None,
):
    """Run ``loaded`` on ``ids [B, T]`` (and ``mask [B, T]``, 1 = attend) and return the transformers output.

    ``last_logits=None`` runs the backbone (``base_model``) and returns no logits: for hidden states and
    attentions. ``last_logits=k`` runs the language model and keeps the logits of the last ``k`` positions only:
    ``.logits`` is ``[B, k, vocab]`` whether or not the architecture supports ``logits_to_keep``.
    """
    inputs = dict(input_ids=ids.to(loaded.device), output_hidden_states=hidden_states, use_cache=False)
    if mask is not None:
        inputs["attention_mask"] = mask.to(loaded.device)
    if attentions:
        inputs["output_attentions"] = True
    if last_logits is None:
        return getattr(loaded.model, "base_model", loaded.model)(**inputs)
    try:
        out = loaded.model(**inputs, logits_to_keep=last_logits)
    except TypeError:  # an architecture without logits_to_keep
        out = loaded.model(**inputs)
    out.logits = out.logits[:, -last_logits:]
    return out


def progress_disabled(progress: bool | None) -> bool:
    """tqdm's ``disable``: show progress when asked, or by default when stderr is a terminal."""
    return not (progress if progress is not None else sys.stderr.isatty())
