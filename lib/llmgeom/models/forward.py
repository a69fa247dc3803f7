"""One forward pass for every measurement: extraction (chapters 2–7), masked runs (chapters 5–6) and losses.

:func:`run_model` puts the inputs on the model's device, runs without gradients or a key/value cache, and
computes only what is asked for: hidden states from the backbone alone (no vocabulary projection, a fifth of
SmolLM2's forward pass), or the logits at the last positions only (``logits_to_keep`` where the architecture has
it). :func:`progress_disabled` is the one rule for showing progress bars.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm
from transformers import DynamicCache

from llmgeom.data.feeding import model_input
from llmgeom.models.loading import LoadedModel


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


# ------------------------------------------------------------------------------------------- shared prefixes


def first_change(reference, ids, keep) -> int:
    """The first text position where a variant (``ids``, ``keep``) differs from its unaltered ``reference``
    (``len(reference)`` when it does not): every position before it computes exactly what the reference does."""
    reference, ids, keep = np.asarray(reference), np.asarray(ids), np.asarray(keep, dtype=bool)
    changed = np.flatnonzero((ids != reference) | ~keep)
    return int(changed[0]) if changed.size else len(reference)


def shares_prefixes(loaded: LoadedModel, length: int) -> bool:
    """Whether :func:`variant_logits` may reuse a prefix's keys and values for a model input of ``length`` tokens.

    Not for an encoder (no causal prefix), nor where a sliding-window layer would have dropped part of the prefix
    (an input as long as the window: the cache would hold ``window − 1`` positions, not the prefix); a model whose
    cache the path does not know falls back at run time (:func:`variant_logits`).
    """
    if loaded.is_encoder:
        return False
    config = loaded.model.config.get_text_config(decoder=True)
    window = getattr(config, "sliding_window", None)
    return not (window and length >= int(window))


def _gather_cache(loaded: LoadedModel, cache, rows: torch.Tensor, length: int):
    """A new cache holding the first ``length`` positions of ``cache``'s batch rows ``rows``."""
    data = [(layer.keys[rows, :, :length], layer.values[rows, :, :length]) for layer in cache.layers]
    return DynamicCache(data, config=loaded.model.config)


RECOMPUTED_SPAN = 8
"""Positions that the rows of one :func:`variant_logits` batch may differ in their first change: a batch runs from its
earliest change, so a row may recompute up to this many unchanged positions, and a text of its own length (planted
prompts vary in length) still runs its single-token erasures a few rows per call rather than one."""


def _start_batches(pending: Sequence[tuple[int, int]], batch_size: int) -> list[tuple[int, list[int]]]:
    """``[(start, row)]`` → ``[(first start, rows)]``: consecutive rows by start, at most ``batch_size`` per batch and
    starts within :data:`RECOMPUTED_SPAN` of the batch's first."""
    batches: list[tuple[int, list[int]]] = []
    for start, i in sorted(pending):
        if batches and len(batches[-1][1]) < batch_size and start - batches[-1][0] < RECOMPUTED_SPAN:
            batches[-1][1].append(i)
        else:
            batches.append((start, [i]))
    return batches


@torch.no_grad()
def variant_logits(
    loaded: LoadedModel,
    references: Sequence[Sequence[int]],
    rows: Sequence[tuple[int, np.ndarray, np.ndarray]],
    last_logits: int,
    reduce,
    batch_size: int = 64,
    shared: bool = True,
    progress: bool | None = None,
    desc: str = "variants",
) -> list:
    """Next-token logits of many variants of a few texts, each text's unaltered prefix computed once.

    ``references[t]`` are text ``t``'s ids; ``rows[i] = (t, ids, keep)`` is a variant of text ``t`` (its ids, and its
    bool attention keep-mask over text positions), of the same length. The model reads its prefix (BOS) and the
    variant; ``reduce(logits, indices)`` turns a batch's logits at the last ``last_logits`` positions,
    ``[B, last_logits, vocab]`` in float32, into one result per row of ``indices``; the results come back in the
    order of ``rows``.

    With ``shared`` (and where :func:`shares_prefixes` allows), each text runs once unaltered, keeping its keys and
    values; a variant then runs only from its :func:`first_change` on (or a few positions earlier, with variants of
    nearby first changes in one batch: :data:`RECOMPUTED_SPAN`), over that prefix (a causal model's states before the
    first changed position are the reference's, up to the rounding of another batch shape). Variants
    with no change take the reference run's logits. Otherwise every variant runs whole.
    """
    skip = len(loaded.prefix_ids)
    results: list = [None] * len(rows)
    by_length = defaultdict(list)
    for i, (t, ids, keep) in enumerate(rows):
        by_length[len(ids)].append(i)
    plan = []  # (kind, payload): reference batches and their variant batches, in run order
    for n, members in sorted(by_length.items()):
        if not (shared and shares_prefixes(loaded, skip + n)):
            plan += [("whole", members[s : s + batch_size]) for s in range(0, len(members), batch_size)]
            continue
        texts = sorted({rows[i][0] for i in members})
        for s in range(0, len(texts), batch_size):
            chunk = texts[s : s + batch_size]
            mine = [i for i in members if rows[i][0] in set(chunk)]
            plan.append(("reference", (chunk, mine)))
    bar = tqdm(total=len(rows), desc=desc, disable=progress_disabled(progress))

    def run_whole(indices):
        fed = [model_input(loaded.prefix_ids, rows[i][1], rows[i][2]) for i in indices]
        out = run_model(loaded, torch.tensor(np.stack([f[0] for f in fed])),
                        torch.from_numpy(np.stack([f[1] for f in fed])).long(), last_logits=last_logits)
        for i, value in zip(indices, reduce(out.logits.float(), indices)):
            results[i] = value
        bar.update(len(indices))

    for kind, payload in plan:
        if kind == "whole":
            run_whole(payload)
            continue
        chunk, mine = payload
        place = {t: j for j, t in enumerate(chunk)}
        ids = torch.tensor([model_input(loaded.prefix_ids, references[t]) for t in chunk])
        try:
            out = loaded.model(input_ids=ids.to(loaded.device), use_cache=True, logits_to_keep=last_logits)
            cache = out.cache
            cache.layers[0].keys  # noqa: B018 -- a cache of another kind has no per-layer keys: run whole
        except (TypeError, AttributeError, IndexError):
            for s in range(0, len(mine), batch_size):
                run_whole(mine[s : s + batch_size])
            continue
        reference_logits = out.logits[:, -last_logits:].float()
        starts = {i: first_change(references[rows[i][0]], rows[i][1], rows[i][2]) for i in mine}
        unchanged = [i for i in mine if starts[i] == len(references[rows[i][0]])]
        if unchanged:
            picked = reference_logits[torch.tensor([place[rows[i][0]] for i in unchanged])]
            for i, value in zip(unchanged, reduce(picked, unchanged)):
                results[i] = value
            bar.update(len(unchanged))
        for start, batch in _start_batches([(starts[i], i) for i in mine if starts[i] < len(references[rows[i][0]])],
                                           batch_size):
            if len(references[rows[batch[0]][0]]) - start < last_logits:
                run_whole(batch)
                continue
            fed = [model_input(loaded.prefix_ids, rows[i][1], rows[i][2]) for i in batch]
            full_ids = torch.tensor(np.stack([f[0] for f in fed]))
            mask = torch.from_numpy(np.stack([f[1] for f in fed])).long()
            past = _gather_cache(loaded, cache, torch.tensor([place[rows[i][0]] for i in batch]), skip + start)
            out = loaded.model(input_ids=full_ids[:, skip + start :].to(loaded.device),
                               attention_mask=mask.to(loaded.device), cache=past, use_cache=True,
                               logits_to_keep=last_logits)
            for i, value in zip(batch, reduce(out.logits[:, -last_logits:].float(), batch)):
                results[i] = value
            bar.update(len(batch))
    bar.close()
    return results
