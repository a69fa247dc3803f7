"""Masking context tokens out: erasure ground truth (chapter 5) and ablation curves (chapter 6).

A token is *removed* by zeroing it in the attention mask: no later position can attend to it, while every other
token keeps its position (rotary positions are not shifted, so removal does not also move the rest of the text).
Positions are text positions (:mod:`llmgeom.data.feeding`): a model with a BOS reads it before every masked copy, and
the BOS is never masked. Text token 0 is never removed either — without a BOS it is the attention sink every
model here relies on, and chapters 4–7 leave it out for every model alike; removing it would measure that instead
of meaning.

For each masked copy of a text we keep the log-probability of the true next token at the last position, the
model's top token, and — where asked, since it needs every hidden state of the run — the last token's information
gain :math:`\\mathrm{IG}_T` (chapter 4) among the tokens that remain, at one layer.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from llmgeom.core.ridge import prepare_states, ridge_gains
from llmgeom.data.feeding import model_input
from llmgeom.models.forward import progress_disabled, run_model, variant_logits
from llmgeom.models.loading import LoadedModel
from llmgeom.store.cache import cached_arrays


@dataclass
class MaskedRuns:
    """Per text, one value per mask: ``logprob[i]``, ``last_gain[i]`` and ``top_id[i]`` are ``[M_i]``.

    ``top_id`` is the model's most likely next token (to check whether it answers a planted prompt).
    """

    logprob: list[np.ndarray]
    last_gain: list[np.ndarray]
    top_id: list[np.ndarray]


def single_erasure_masks(n: int, candidates=None) -> np.ndarray:
    """``[1 + len(candidates), n]`` keep-masks: row 0 keeps everything, row ``1 + j`` drops ``candidates[j]``.

    ``candidates`` defaults to ``1 .. n − 2`` (not the sink, not the last token).
    """
    candidates = np.arange(1, n - 1) if candidates is None else np.asarray(candidates)
    keep = np.ones((1 + len(candidates), n), dtype=bool)
    keep[np.arange(1, 1 + len(candidates)), candidates] = False
    return keep


def removal_mask(n: int, remove) -> np.ndarray:
    """One ``[n]`` keep-mask with the positions ``remove`` masked out (token 0 and the last may not be)."""
    remove = np.asarray(remove, dtype=int)
    if remove.size and (remove.min() < 1 or remove.max() > n - 2):
        raise ValueError(f"only positions 1..{n - 2} can be removed (not the sink token 0, not the last token)")
    keep = np.ones(n, dtype=bool)
    keep[remove] = False
    return keep


def _last_gain(states: np.ndarray, keep: np.ndarray, noise_variance: float) -> float:
    return float(ridge_gains(prepare_states(states[keep]), noise_variance)[-1])


def _run_group(loaded, rows, layer, noise_variance):
    skip = len(loaded.prefix_ids)
    fed = [model_input(loaded.prefix_ids, r[0], r[2]) for r in rows]  # the BOS, where the model has one, always kept
    ids = torch.tensor(np.stack([f[0] for f in fed]), dtype=torch.long)
    full_keep = np.stack([f[1] for f in fed])
    keep = full_keep[:, skip:]
    out = run_model(loaded, ids, torch.from_numpy(full_keep).long(), hidden_states=layer is not None, last_logits=1)
    logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu().numpy()
    states = out.hidden_states[layer][:, skip:].float().cpu().numpy() if layer is not None else None
    return [
        (float(logprobs[i, rows[i][1]]),
         _last_gain(states[i], keep[i], noise_variance) if states is not None else np.nan,
         int(logprobs[i].argmax()))
        for i in range(len(rows))
    ]


def masked_runs(
    loaded: LoadedModel,
    token_ids: Sequence[Sequence[int]],
    targets: Sequence[int],
    keep: Sequence[np.ndarray],
    layer: int | None = -1,
    noise_variance: float = 0.1,
    batch_size: int = 64,
    use_cache: bool = True,
    progress: bool | None = None,
) -> MaskedRuns:
    """Run every masked copy of every text and record the next-token log-probability and the last token's gain.

    Parameters
    ----------
    loaded : a causal LM from :func:`llmgeom.models.loading.load`
    token_ids : per text, its ``n_i`` text ids (the model reads its BOS, if it has one, and all of them)
    targets : per text, the id of the true next token after the last input
    keep : per text, a bool ``[M_i, n_i]`` array of keep-masks (see :func:`single_erasure_masks`,
        :func:`removal_mask`); token 0 must be kept
    layer : hidden-state index for ``IG_T`` (``-1``: the final hidden state after the final norm); ``None``
        computes no gain (``last_gain`` is NaN) and no hidden states — for callers that need only log-probabilities
    noise_variance : ``σ²`` of ``IG_T`` on unit-norm states (chapter 4)

    Returns
    -------
    MaskedRuns. Cached under the model's content, the inputs and the library. Without a layer, each text runs once
    unaltered and every masked copy only from its first removed position on
    (:func:`llmgeom.models.forward.variant_logits`).
    """
    if loaded.is_encoder:
        raise ValueError(f"{loaded.name} is an encoder; masking needs a causal language model")
    if not (len(token_ids) == len(targets) == len(keep)):
        raise ValueError("token_ids, targets and keep need one entry per text")
    keep = [np.atleast_2d(np.asarray(k, dtype=bool)) for k in keep]
    for ids, k in zip(token_ids, keep):
        if k.shape[1] != len(ids):
            raise ValueError(f"a keep-mask has {k.shape[1]} positions for a text of {len(ids)} tokens")
        if not k[:, 0].all():
            raise ValueError("token 0 must be kept in every mask (it is the attention sink)")
    inputs = hashlib.sha256(json.dumps([[list(map(int, i)) for i in token_ids], list(map(int, targets))]).encode()
                            + b"".join(np.packbits(k).tobytes() + str(k.shape).encode() for k in keep)).hexdigest()
    split = np.cumsum([len(k) for k in keep])[:-1]

    def compute():
        if layer is None:  # log-probabilities only: each text's unaltered prefix runs once (forward.variant_logits)
            return _logprob_columns(loaded, token_ids, targets, keep, batch_size, progress)
        by_length = defaultdict(list)
        for text, (ids, target, k) in enumerate(zip(token_ids, targets, keep)):
            for row in range(len(k)):
                by_length[len(ids)].append((text, row, np.asarray(ids), int(target), k[row]))
        values = [np.zeros((len(k), 3)) for k in keep]
        groups = [rows[i : i + batch_size] for _, rows in sorted(by_length.items())
                  for i in range(0, len(rows), batch_size)]
        for group in tqdm(groups, desc=f"masked runs {loaded.name}", disable=progress_disabled(progress)):
            results = _run_group(loaded, [(r[2], r[3], r[4]) for r in group], layer, noise_variance)
            for (text, row, *_), result in zip(group, results):
                values[text][row] = result
        columns = {name: np.concatenate([v[:, c] for v in values])
                   for c, name in enumerate(("logprob", "last_gain", "top_id"))}
        columns["top_id"] = columns["top_id"].astype(np.int64)
        return columns

    columns = cached_arrays("masked_runs", compute, use_cache, model=loaded.fingerprint, inputs=inputs, layer=layer,
                            noise_variance=noise_variance if layer is not None else None)
    return MaskedRuns(*(np.split(columns[name], split) for name in ("logprob", "last_gain", "top_id")))


def _logprob_columns(loaded, token_ids, targets, keep, batch_size, progress) -> dict[str, np.ndarray]:
    """:func:`masked_runs`'s columns without gains, every masked copy run from its first removed position on."""
    rows = [(t, np.asarray(ids), k[r]) for t, (ids, k) in enumerate(zip(token_ids, keep)) for r in range(len(k))]
    wanted = torch.tensor([int(targets[t]) for t, _, _ in rows])

    def reduce(logits, indices):
        log_p = torch.log_softmax(logits[:, -1], dim=-1)
        chosen = log_p[torch.arange(len(indices)), wanted[indices].to(log_p.device)]
        return list(zip(chosen.cpu().tolist(), log_p.argmax(dim=-1).cpu().tolist()))

    values = variant_logits(loaded, token_ids, rows, 1, reduce, batch_size, progress=progress,
                            desc=f"masked runs {loaded.name}")
    return {"logprob": np.array([v[0] for v in values], dtype=float), "last_gain": np.full(len(rows), np.nan),
            "top_id": np.array([v[1] for v in values], dtype=np.int64)}


def erasure_effects(
    loaded: LoadedModel, token_ids: Sequence[Sequence[int]], targets: Sequence[int], **options
) -> list[np.ndarray]:
    """Per text, ``[n − 2]``: how much the log-probability of the true next token drops when each context token
    (positions ``1 .. n − 2``) is masked out. Positive = the token helped the prediction. Needs log-probabilities
    only, so no gains are computed unless ``layer`` is given."""
    options.setdefault("layer", None)
    runs = masked_runs(loaded, token_ids, targets, [single_erasure_masks(len(ids)) for ids in token_ids], **options)
    return [lp[0] - lp[1:] for lp in runs.logprob]


@dataclass
class ErasureDivergence:
    """Per text, one value per mask row after the first (row 0 is the full context):

    ``kl[i]`` ``[M_i − 1]``: KL(full ‖ masked) of the whole next-token distribution, in nats;
    ``greedy_drop[i]`` ``[M_i − 1]``: how much the log-probability of the full context's top token falls.
    """

    kl: list[np.ndarray]
    greedy_drop: list[np.ndarray]


@torch.no_grad()
def erasure_divergence(
    loaded: LoadedModel, token_ids: Sequence[Sequence[int]], keep: Sequence[np.ndarray], batch_size: int = 64,
    use_cache: bool = True,
) -> ErasureDivergence:
    """Erasure measured on the whole next-token distribution, not on one target token (chapter 5).

    ``keep`` is per text a bool ``[M_i, n_i]`` array whose row 0 keeps everything (the reference) — e.g.
    :func:`single_erasure_masks`. Each text runs once unaltered and every masked row only from its first removed
    position on (:func:`llmgeom.models.forward.variant_logits`; rows of one length per batch, no padding); the BOS,
    where the model reads one, is always kept. Cached under the model's content, the inputs and the library.
    """
    if loaded.is_encoder:
        raise ValueError(f"{loaded.name} is an encoder; masking needs a causal language model")
    if len(token_ids) != len(keep):
        raise ValueError("token_ids and keep need one entry per text")
    if not len(token_ids):
        return ErasureDivergence([], [])
    keep = [np.atleast_2d(np.asarray(k, dtype=bool)) for k in keep]
    for ids, k in zip(token_ids, keep):
        if k.shape[1] != len(ids) or not k[0].all() or not k[:, 0].all():
            raise ValueError("each text needs [M, n] keep-masks whose row 0 keeps every token and that keep token 0")
    inputs = hashlib.sha256(json.dumps([list(map(int, i)) for i in token_ids]).encode()
                            + b"".join(np.packbits(k).tobytes() + str(k.shape).encode() for k in keep)).hexdigest()
    split = np.cumsum([len(k) - 1 for k in keep])[:-1]

    def compute():
        kl, greedy = [], []
        for first in range(0, len(token_ids), TEXTS_AT_ONCE):  # a text's rows hold whole vocabularies: a few at a time
            chunk = range(first, min(first + TEXTS_AT_ONCE, len(token_ids)))
            rows = [(t, np.asarray(token_ids[t]), row) for t in chunk for row in keep[t]]
            logits = variant_logits(loaded, token_ids, rows, 1, lambda out, _: list(out[:, -1].cpu()), batch_size,
                                    desc=f"erasure {loaded.name}")
            start = 0
            for t in chunk:
                kl_t, greedy_t = _divergence(torch.log_softmax(torch.stack(logits[start : start + len(keep[t])]).double(), dim=-1))
                start += len(keep[t])
                kl.append(kl_t)
                greedy.append(greedy_t)
        return {"kl": np.concatenate(kl) if kl else np.zeros(0),
                "greedy_drop": np.concatenate(greedy) if greedy else np.zeros(0)}

    columns = cached_arrays("erasure_divergence", compute, use_cache, model=loaded.fingerprint, inputs=inputs)
    return ErasureDivergence(np.split(columns["kl"], split), np.split(columns["greedy_drop"], split))


TEXTS_AT_ONCE = 16
"""Texts whose masked rows :func:`erasure_divergence` keeps in memory at once (each row a vocabulary of logits)."""


def _divergence(log_p: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(KL(row 0 ‖ row), drop of row 0's top token)`` for rows ``1 ..`` of ``[rows, vocab]`` log-probabilities."""
    full, masked = log_p[0], log_p[1:]
    top = int(full.argmax())
    return (full.exp() * (full - masked)).sum(dim=-1).numpy(), (full[top] - masked[:, top]).numpy()


def top_k_positions(scores, k: int) -> np.ndarray:
    """Positions (``1 + candidate index``) of the ``k`` highest-scored candidates; ties go to the latest token."""
    scores = np.asarray(scores, dtype=float)
    if not 1 <= k <= len(scores):
        raise ValueError(f"k must be between 1 and the number of candidates ({len(scores)}); got {k}")
    order = np.lexsort((-np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf)))
    return np.sort(order[:k]) + 1


def position_matched(picks: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """A position-matched random baseline: every text gets the positions another text's selector picked.

    Texts are paired by a random derangement (no text keeps its own picks), so the baseline removes tokens at
    exactly the positions the selector favours overall — near the end, say — but not the tokens it chose.
    All texts must have the same number of tokens.
    """
    if len(picks) < 2:
        raise ValueError("position matching needs at least two texts")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(picks))
        if not (order == np.arange(len(picks))).any():
            return [np.asarray(picks[j]).copy() for j in order]
