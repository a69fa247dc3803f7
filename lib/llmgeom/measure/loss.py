"""Next-token loss, the model fed as the book feeds it: the check that a pipeline reads a model in distribution.

``python -m llmgeom loss`` prints it with and without the prefix (SPEC §3, :mod:`llmgeom.data.feeding`); the
reproduction cards' ``feeding`` part records it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from llmgeom.data.feeding import model_input
from llmgeom.models.forward import run_model
from llmgeom.store.cache import cached_arrays


def next_token_loss(loaded, token_ids: Sequence[Sequence[int]], with_prefix: bool = True, use_cache: bool = True) -> float:
    """Mean next-token loss (nats/token) over the text tokens after the first, the model fed as the book feeds it.

    Parameters
    ----------
    loaded : a causal LM from :func:`llmgeom.models.loading.load`
    token_ids : per text, its text ids (:func:`llmgeom.data.feeding.text_encoding`)
    with_prefix : ``False`` leaves the prefix (BOS) out — the mistake this check exists to catch
    use_cache : read and write the result cache (keyed by the model's content, the ids and the library)

    The scored positions are text tokens ``1 .. n − 1`` in both cases, so the two numbers are comparable.
    """
    if loaded.is_encoder:
        raise ValueError(f"{loaded.name} is an encoder; a next-token loss needs a causal language model")
    result = cached_arrays(
        "next_token_loss",
        lambda: {"loss": np.array(_mean_loss(loaded, token_ids, loaded.prefix_ids if with_prefix else ()))},
        use_cache, model=loaded.fingerprint, with_prefix=with_prefix, ids=[list(map(int, ids)) for ids in token_ids])
    return float(result["loss"])


def _mean_loss(loaded, token_ids, prefix) -> float:
    total, count = 0.0, 0
    for ids in token_ids:
        if len(ids) < 2:
            continue
        logits = run_model(loaded, torch.tensor([model_input(prefix, ids)]), last_logits=len(ids)).logits[0].float()
        target = torch.tensor(ids[1:], device=loaded.device)
        total += float(torch.nn.functional.cross_entropy(logits[:-1], target, reduction="sum"))
        count += len(ids) - 1
    if not count:
        raise ValueError("no text has two tokens or more; nothing to score")
    return total / count
