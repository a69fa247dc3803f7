"""Standard attribution baselines for "which context tokens matter" (chapter 5, claim C4).

Each function scores the *text* positions of a text for its last position (the query), on the model fed as it
was trained (:mod:`llmgeom.data.feeding`: a BOS is read where the model has one, and never scored):

* :func:`gradient_x_input` — ``Σ_k (∂ log p(target) / ∂e_jk) · e_jk`` at each input embedding ``e_j``
  (Shrikumar et al. 2016; Ancona et al. 2018): the first-order effect of scaling a token's embedding;
* :func:`attention_rollout` — attention composed through the blocks with the residual stream as ½ I
  (Abnar & Zuidema 2020);
* :func:`value_weighted_attention` — each head's weight times the norm of the value vector it reads
  (Kobayashi et al. 2020), so a head that attends to a token whose value is near zero no longer counts it;
* :func:`id_match_scores` — 1 where the context token *is* the model's top prediction: the baseline that any
  score looking at the output can match without reading meaning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from llmgeom.data.feeding import model_input
from llmgeom.measure.extract import hidden_states_for_ids


def id_match_scores(token_ids: Sequence[int], predicted_id: int) -> np.ndarray:
    """``[n]``: 1.0 at the positions whose token id equals ``predicted_id`` (the model's top next token), else 0."""
    return (np.asarray(token_ids, dtype=np.int64) == int(predicted_id)).astype(float)


def gradient_x_input(loaded, token_ids: Sequence[Sequence[int]], targets: Sequence[int], batch_size: int = 16
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Gradient × input of ``log p(target | text)`` at the last position, for every text token, in both forms from
    one pass: ``(signed, norms)``, each per text ``[n]`` — the signed sum over the embedding dimensions,
    ``Σ_k ∂log p/∂e_jk · e_jk``, and the L2 norm ``‖∂log p/∂e_j ⊙ e_j‖`` (the unsigned form the attribution
    literature also reports; chapter 5 shows both).

    Texts of one length run together (no padding, so no mask can change a gradient); the BOS, where the model
    reads one, is in the input and not in the result. Only the input embeddings receive gradients.
    """
    if loaded.is_encoder:
        raise ValueError(f"{loaded.name} is an encoder; gradient × input of a next token needs a causal LM")
    if len(token_ids) != len(targets):
        raise ValueError("token_ids and targets need one entry per text")
    skip = len(loaded.prefix_ids)
    device = loaded.device
    embed = loaded.model.get_input_embeddings()
    out: list[np.ndarray | None] = [None] * len(token_ids)
    norms: list[np.ndarray | None] = [None] * len(token_ids)
    by_length = defaultdict(list)
    for i, ids in enumerate(token_ids):
        by_length[len(ids)].append(i)
    for group in by_length.values():
        for start in range(0, len(group), batch_size):
            rows = group[start : start + batch_size]
            ids = torch.tensor([model_input(loaded.prefix_ids, token_ids[i]) for i in rows], device=device)
            with torch.enable_grad():
                embeddings = embed(ids).detach().requires_grad_(True)
                # the output head at the last position only (logits_to_keep): the rest of a vocabulary-wide head is
                # computed for nothing (most of Gemma's pass)
                logits = loaded.model(inputs_embeds=embeddings, use_cache=False, logits_to_keep=1).logits[:, -1].float()
                chosen = torch.log_softmax(logits, dim=-1)[torch.arange(len(rows)), torch.tensor([targets[i] for i in rows])]
                (grad,) = torch.autograd.grad(chosen.sum(), embeddings)
            product = (grad * embeddings.detach())[:, skip:].float()
            scores, lengths = product.sum(dim=-1).cpu().numpy(), product.norm(dim=-1).cpu().numpy()
            for row, i in enumerate(rows):
                out[i], norms[i] = scores[row], lengths[row]
    return out, norms


def attention_rollout(attentions, prefix_attention=None, residual: float = 0.5) -> np.ndarray:
    """Attention rollout through the given blocks: ``[n, n]`` over text positions (rows: queries).

    Parameters
    ----------
    attentions : ``[blocks, heads, n, n]`` text-position weights of consecutive blocks, first block first
    prefix_attention : ``[blocks, heads, n]`` the weight each query puts on the BOS (:mod:`llmgeom.measure.extract`),
        for a model that reads one; the BOS is put back as position 0 for the composition and dropped from the result
    residual : the identity's share in each block's mixing matrix, ``residual · I + (1 − residual) · A``

    Each block's head-mean matrix is mixed with the identity, rows renormalised, and the blocks multiplied in
    order, so row ``i`` is how much of each earlier position reaches position ``i`` after the last block.
    """
    a = np.asarray(attentions, dtype=np.float64).mean(axis=1)  # [blocks, n, n]
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"attentions must be [blocks, heads, n, n]; got {np.shape(attentions)}")
    blocks, n, _ = a.shape
    if prefix_attention is not None:
        bos = np.asarray(prefix_attention, dtype=np.float64).mean(axis=1)  # [blocks, n]
        full = np.zeros((blocks, n + 1, n + 1))
        full[:, 0, 0] = 1.0  # the BOS can attend only to itself
        full[:, 1:, 0] = bos
        full[:, 1:, 1:] = a
        a = full
    size = a.shape[1]
    rollout = np.eye(size)
    for block in a:
        mixed = residual * np.eye(size) + (1 - residual) * block
        mixed /= mixed.sum(axis=1, keepdims=True)
        rollout = mixed @ rollout
    return rollout[1:, 1:] if prefix_attention is not None else rollout


def value_norms(loaded, token_ids: Sequence[Sequence[int]], blocks: Sequence[int], batch_size: int = 16
                ) -> list[np.ndarray]:
    """Per text, ``[len(blocks), heads, n]``: the norm of the value vector each head reads at each text position.

    Blocks are 1-based (block ``b`` outputs hidden state ``b``). Grouped-query heads share their key–value head's
    vectors. Texts run in padded batches (right padding changes no real position's value). Chapter 5 reads the
    same norms from its one pass (``hidden_states_for_ids(..., value_blocks=blocks)``).
    """
    return [r["value_norms"] for r in hidden_states_for_ids(loaded, token_ids, [0], batch_size, value_blocks=blocks)]


def value_weighted_attention(attentions, norms) -> np.ndarray:
    """``[heads + 1, n]`` for the last query: per head ``α_{last, j} ‖v_j‖``, then the head mean (last row).

    ``attentions`` is one block's ``[heads, n, n]``; ``norms`` that block's ``[heads, n]`` from :func:`value_norms`.
    """
    a = np.asarray(attentions, dtype=np.float64)[:, -1, :]
    weighted = a * np.asarray(norms, dtype=np.float64)
    return np.vstack([weighted, weighted.mean(axis=0, keepdims=True)])
