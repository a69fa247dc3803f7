"""Hidden states and attentions for many texts: padded batches, exact masks, streaming, cached, resumable.

Used from chapter 2 on. Conventions, stated once for the whole book:

* **Layers.** A model with ``L`` blocks gives ``L + 1`` hidden states: index 0 is the embedding output, index
  ``l`` the output of block ``l``. For GPT-NeoX and Llama models transformers applies the final layer norm to
  the last one, so index ``L`` is the *final hidden state after the final norm* — the companion's layer.
* **Feeding.** Every model reads what it was trained on (:mod:`llmgeom.data.feeding`). A causal LM gets the BOS its
  tokenizer prepends (Gemma, Llama, Mistral; none for SmolLM2, Pythia and the ladder) and nothing else — never
  an appended EOS. The BOS is in the input and in no statistic, ever: states, attention rows and columns, masks
  and losses are over *text* tokens, so a passage of ``N`` tokens means ``N`` text tokens and gives ``N`` states
  whatever the model. An encoder reads ``[CLS] text [SEP]`` and its states include both (its sentence embedding
  pools them). ``drop_first_token=True`` keeps the model's view unchanged but leaves the first *text* token out
  of every statistic (massive activations, chapter 1); each chapter's choice about it applies to every model
  alike.
* **Padding.** Texts are sorted by length and padded on the right within a batch. With the attention mask,
  every real token's state (and attention row) equals the unpadded computation; padding never enters a
  statistic.
* **Length.** A text longer than ``max_tokens`` (or the model's context window) is truncated, with a warning
  that counts how many were.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from llmgeom.core.entropy import MIN_TOKENS, EntropyResult, matrix_entropy
from llmgeom.data.feeding import special_tokens, text_encoding, wrap_for_encoder
from llmgeom.models.forward import progress_disabled, run_model
from llmgeom.models.loading import LoadedModel
from llmgeom.store.cache import cache_dir, load_arrays, make_key, save_arrays


def parse_layers(layers, n_layers: int) -> list[int]:
    """Turn ``"all"``, ``"last"``, ``"0,3,-1"`` or a list of ints into hidden-state indices in ``0..n_layers``."""
    if isinstance(layers, str):
        if layers == "all":
            return list(range(n_layers + 1))
        if layers == "last":
            return [n_layers]
        try:
            layers = [int(part) for part in layers.split(",") if part.strip()]
        except ValueError:
            raise ValueError(f"layers must be 'all', 'last' or comma-separated integers; got {layers!r}") from None
    chosen = []
    for layer in layers:
        index = int(layer) + (n_layers + 1 if int(layer) < 0 else 0)
        if not 0 <= index <= n_layers:
            raise ValueError(
                f"layer {layer} is out of range: this model has hidden states 0..{n_layers} "
                f"(0 = embeddings, {n_layers} = last block; negatives count from the end)"
            )
        chosen.append(index)
    if not chosen:
        raise ValueError("no layers chosen")
    return chosen


def tokenize(loaded: LoadedModel, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
    """Token ids per text as the statistics see them, truncated to ``max_tokens`` text tokens (with a warning).

    A causal LM's ids are the text's alone (its BOS is added where it runs, :func:`_forward`); an encoder's are
    ``[CLS] text [SEP]``, truncated inside the pair. The context window counts the special tokens.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    special = sum(map(len, special_tokens(loaded.tokenizer))) if loaded.is_encoder else len(loaded.prefix_ids)
    limit = min(max_tokens or loaded.context_length, loaded.context_length - special)
    ids = [text_encoding(loaded.tokenizer, text) for text in texts]
    truncated = sum(len(t) > limit for t in ids)
    if truncated:
        warnings.warn(f"{truncated} of {len(ids)} texts were longer than {limit} tokens and were truncated to it")
    empty = sum(len(t) == 0 for t in ids)
    if empty:
        warnings.warn(f"{empty} of {len(ids)} texts have no tokens; they get no states and no entropy (NaN)")
    if loaded.is_encoder:
        return [wrap_for_encoder(loaded.tokenizer, t[:limit]) if t else [] for t in ids]
    return [t[:limit] for t in ids]


@dataclass
class Batch:
    """One padded batch: ``hidden[l]`` is ``[B, N, d]`` for the l-th chosen layer; ``mask`` ``[B, N]``."""

    indices: list[int]
    hidden: list[torch.Tensor]
    mask: torch.Tensor
    attentions: list[torch.Tensor] | None  # per chosen block: [B, heads, N, N]
    prefix_attention: list[torch.Tensor] | None = None  # per chosen block: [B, heads, N], weight on the BOS
    value_norms: np.ndarray | None = None  # [B, value blocks, heads, N], when asked for


def _batches_by_length(token_ids: list[list[int]], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(token_ids)), key=lambda i: (-len(token_ids[i]), i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padded_inputs(loaded: LoadedModel, token_ids, batch_indices) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(ids [B, P + N], mask [B, P + N], P)``: each text's prefix and ids, padded on the right (``P`` = prefix)."""
    prefix = list(loaded.prefix_ids)
    skip = len(prefix)
    length = skip + max(1, max(len(token_ids[i]) for i in batch_indices))  # a batch of empty texts still runs
    ids = torch.full((len(batch_indices), length), loaded.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(batch_indices), length), dtype=torch.long)
    for row, i in enumerate(batch_indices):
        n = skip + len(token_ids[i])
        ids[row, :n] = torch.tensor(prefix + list(token_ids[i]), dtype=torch.long)
        mask[row, :n] = 1
    return ids, mask, skip


def _forward(loaded: LoadedModel, token_ids, batch_indices, layers, attentions, values=None) -> Batch:
    """One padded batch; the model reads ``prefix + ids``, the batch holds text positions only. ``values``, an
    active :class:`ValueNorms`, records the value norms of the same pass."""
    ids, mask, skip = padded_inputs(loaded, token_ids, batch_indices)
    # the backbone: the hidden states of the language model (the last one after the final norm), and no logits
    out = run_model(loaded, ids, mask, hidden_states=True, attentions=attentions)
    norms = None if values is None else np.stack([values.last[b][:, :, skip:] for b in values.modules], axis=1)
    hidden = [out.hidden_states[layer][:, skip:].float().cpu() for layer in layers]
    attn = prefix_attn = None
    if attentions:
        if not out.attentions:
            raise RuntimeError("the model returned no attentions: load it with load(..., attentions=True)")
        # attentions[b] belongs to block b + 1, whose output is hidden state b + 1
        chosen = [out.attentions[layer - 1].float().cpu() for layer in layers if layer > 0]
        attn = [a[:, :, skip:, skip:] for a in chosen]
        if skip:
            prefix_attn = [a[:, :, skip:, :skip].sum(dim=-1) for a in chosen]
    return Batch(list(batch_indices), hidden, mask[:, skip:].bool(), attn, prefix_attn, norms)


def iter_batches(
    loaded: LoadedModel,
    texts: Sequence[str],
    layers="all",
    batch_size: int = 16,
    max_tokens: int | None = None,
    attentions: bool = False,
    progress: bool | None = None,
) -> Iterator[Batch]:
    """Stream padded batches of hidden states (and attentions) over ``texts``, longest first."""
    token_ids = tokenize(loaded, texts, max_tokens)
    yield from batches_of_ids(loaded, token_ids, parse_layers(layers, loaded.n_layers), batch_size, attentions, progress)


def batches_of_ids(loaded: LoadedModel, token_ids: Sequence[Sequence[int]], layers: Sequence[int], batch_size: int = 16,
                   attentions: bool = False, progress: bool | None = None) -> Iterator[Batch]:
    """:func:`iter_batches` over text ids (:func:`tokenize`'s) and hidden-state indices: padded batches, longest
    first; ``batch.indices`` says which texts each holds."""
    for batch in tqdm(_batches_by_length(token_ids, batch_size), desc="batches", disable=progress_disabled(progress)):
        yield _forward(loaded, token_ids, batch, layers, attentions)


def hidden_states(
    loaded: LoadedModel,
    texts: Sequence[str],
    layers="all",
    batch_size: int = 16,
    max_tokens: int | None = None,
    attentions: bool = False,
    progress: bool | None = None,
) -> list[dict]:
    """Per text, in input order: ``{"hidden": [L, n, d] array, "attentions": [L', heads, n, n] or None}``.

    ``n`` counts text tokens (see the module docstring); with attentions and a BOS, ``"prefix_attention"``
    ``[L', heads, n]`` holds the weight each text query puts on the BOS, which the attention rows leave out.

    For a handful of texts (chapters 4–7); a corpus goes through :func:`layer_entropy`, which streams.
    """
    token_ids = tokenize(loaded, texts, max_tokens)
    return hidden_states_for_ids(loaded, token_ids, layers, batch_size, attentions, progress)


def hidden_states_for_ids(
    loaded: LoadedModel,
    token_ids: Sequence[Sequence[int]],
    layers="all",
    batch_size: int = 16,
    attentions: bool = False,
    progress: bool | None = None,
    value_blocks: Sequence[int] | None = None,
) -> list[dict]:
    """:func:`hidden_states` for texts already tokenised (:func:`llmgeom.data.feeding.text_encoding`): the model reads
    its prefix and exactly these ids (chapters 5–6). With ``value_blocks`` (1-based), each result also holds
    ``"value_norms"`` ``[len(value_blocks), heads, n]`` from the same pass (:class:`ValueNorms`)."""
    chosen = parse_layers(layers, loaded.n_layers)
    ids = [[int(i) for i in text] for text in token_ids]
    results: list[dict | None] = [None] * len(ids)
    recorder = ValueNorms(loaded, value_blocks) if value_blocks else None
    with recorder or nullcontext():
        for group in tqdm(_batches_by_length(ids, batch_size), desc="batches", disable=progress_disabled(progress)):
            _unpack(_forward(loaded, ids, group, chosen, attentions, recorder), results)
    return results


def _unpack(batch: Batch, results: list) -> None:
    """Each text's rows of a padded batch, cut to its length, into ``results`` (see :func:`hidden_states`)."""
    for row, i in enumerate(batch.indices):
        n = int(batch.mask[row].sum())
        results[i] = {
            "hidden": np.stack([h[row, :n].numpy() for h in batch.hidden]),
            "attentions": None
            if batch.attentions is None
            else np.stack([a[row, :, :n, :n].numpy() for a in batch.attentions]),
        }
        if batch.prefix_attention is not None:
            results[i]["prefix_attention"] = np.stack([a[row, :, :n].numpy() for a in batch.prefix_attention])
        if batch.value_norms is not None:
            results[i]["value_norms"] = batch.value_norms[row, :, :, :n]


@dataclass(frozen=True)
class LayerEntropy(EntropyResult):
    """Per-text, per-layer matrix entropy (chapter 2): ``entropy`` is ``[texts, len(layers)]``."""

    layers: tuple[int, ...] = ()

    @classmethod
    def from_arrays(cls, layers, entropy, n_tokens, width) -> LayerEntropy:
        valid = np.isfinite(entropy).all(axis=1)
        return cls(entropy, n_tokens, int(width), valid, np.minimum(n_tokens - 1, width), tuple(layers))


def layer_entropy_path(loaded: LoadedModel, token_ids, layers: list[int], drop_first_token: bool = False,
                       dtype: torch.dtype = torch.float32):
    """Where :func:`layer_entropy` caches its result for these token ids, layers and settings (a ``Path``)."""
    key = make_key(
        "layer_entropy",
        model=loaded.fingerprint,
        texts=hashlib.sha256(json.dumps(token_ids).encode()).hexdigest(),
        layers=layers,
        drop_first_token=drop_first_token,
        dtype=str(dtype),
    )
    return cache_dir("results") / f"layer_entropy-{key}.npz"


def layer_entropy(
    loaded: LoadedModel,
    texts: Sequence[str],
    layers="all",
    batch_size: int = 16,
    max_tokens: int | None = None,
    drop_first_token: bool = False,
    use_cache: bool = True,
    progress: bool | None = None,
    dtype: torch.dtype = torch.float32,
) -> LayerEntropy:
    """Matrix entropy of every text at every chosen layer, computed batch by batch (a corpus never sits in memory).

    Results are cached under a key of the model's content, the texts, the settings and the library; an
    interrupted run keeps its finished batches and resumes from them.

    ``dtype`` is the precision of the Gram matrices and their eigenvalues (see
    :func:`llmgeom.core.entropy.token_spectra`). The default float32 matches the states' own precision and agrees with
    float64 to ~1e-6 relative (tested), at about a third of the analysis cost (appendix "Performance").
    """
    chosen = parse_layers(layers, loaded.n_layers)
    token_ids = tokenize(loaded, texts, max_tokens)
    final = layer_entropy_path(loaded, token_ids, chosen, drop_first_token, dtype)
    key = final.name.removeprefix("layer_entropy-").removesuffix(".npz")
    if use_cache and (hit := load_arrays(final)) is not None:
        return LayerEntropy.from_arrays(chosen, hit["entropy"], hit["n_tokens"], hit["width"])
    partial = cache_dir("results", f"layer_entropy-{key}.partial")
    entropy = np.full((len(texts), len(chosen)), np.nan)
    n_tokens = np.zeros(len(texts), dtype=int)
    batches = _batches_by_length(token_ids, batch_size)
    for number, batch in enumerate(tqdm(batches, desc=f"entropy {loaded.name}", disable=progress_disabled(progress))):
        piece = partial / f"batch-{number:05d}.npz"
        stored = load_arrays(piece) if use_cache else None
        if stored is None:
            out = _forward(loaded, token_ids, batch, chosen, attentions=False)
            mask = out.mask.clone()
            if drop_first_token:
                mask[:, 0] = False
            values = np.stack([matrix_entropy(h, mask, dtype=dtype).entropy for h in out.hidden], axis=1)
            stored = {"entropy": values, "n_tokens": mask.sum(dim=1).numpy()}
            if use_cache:
                save_arrays(piece, **stored)
        entropy[batch] = stored["entropy"]
        n_tokens[batch] = stored["n_tokens"]
    if use_cache:
        save_arrays(final, entropy=entropy, n_tokens=n_tokens, width=np.array(loaded.width))
    shutil.rmtree(partial, ignore_errors=True)
    result = LayerEntropy.from_arrays(chosen, entropy, n_tokens, loaded.width)
    _warn_invalid(result)
    return result


def _warn_invalid(result: LayerEntropy) -> None:
    """One warning that counts the texts without an entropy, and says why."""
    invalid = ~result.valid
    if not invalid.any():
        return
    short = invalid & (result.n_tokens < MIN_TOKENS)
    nonfinite = invalid & ~short
    reasons = []
    if short.any():
        reasons.append(f"{int(short.sum())} with fewer than {MIN_TOKENS} tokens")
    if nonfinite.any():
        reasons.append(f"{int(nonfinite.sum())} whose hidden states hold NaN or Inf (check the model's weights)")
    warnings.warn(f"{int(invalid.sum())} of {len(invalid)} texts have no entropy: {'; '.join(reasons)}; "
                  "they are NaN and every average skips them")


# ------------------------------------------------------------------------------------------------ value norms


def _value_module(layer):
    """The module whose output holds the value vectors, and how to read them: ``(module, kind)``."""
    attention = getattr(layer, "self_attn", None) or getattr(layer, "attention", None)
    if attention is not None and hasattr(attention, "v_proj"):
        return attention.v_proj, "separate"
    if attention is not None and hasattr(attention, "query_key_value"):
        return attention.query_key_value, "neox"
    raise ValueError(f"value vectors of a {type(layer).__name__} block are not supported; "
                     "value_weighted_attention knows Llama-style (v_proj) and GPT-NeoX (query_key_value) blocks")


class ValueNorms:
    """Forward hooks that record, on every forward pass of ``loaded`` while active, the norm of the value vector
    each head reads at each position of the given blocks (1-based): ``self.last[b]`` is ``[B, heads, length]``.

    Grouped-query heads share their key–value head's vectors. Used as a context manager around any forward pass
    (:func:`hidden_states_for_ids` with ``value_blocks``, or :func:`llmgeom.measure.attribution.value_norms`).
    """

    def __init__(self, loaded, blocks: Sequence[int]):
        config = loaded.model.config
        self.heads = config.num_attention_heads
        self.kv_heads = getattr(config, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        layers = loaded.model.base_model.layers
        self.modules = {int(b): _value_module(layers[int(b) - 1]) for b in blocks}
        self.last: dict[int, np.ndarray] = {}
        self.hooks = []

    def _record(self, block, output):
        module, kind = self.modules[block]
        batch, n = output.shape[:2]
        if kind == "neox":
            values = output.view(batch, n, self.heads, 3 * self.head_dim)[..., 2 * self.head_dim :]
        else:
            values = output.view(batch, n, self.kv_heads, self.head_dim).repeat_interleave(self.heads // self.kv_heads, dim=2)
        self.last[block] = values.detach().float().norm(dim=-1).transpose(1, 2).cpu().numpy()

    def __enter__(self):
        self.hooks = [module.register_forward_hook(lambda m, args, output, b=b: self._record(b, output))
                      for b, (module, _) in self.modules.items()]
        return self

    def __exit__(self, *exc):
        for hook in self.hooks:
            hook.remove()
        self.hooks = []
