"""Entropy across model sizes: the measurements and controls of chapter 2 (claim C1).

* :func:`corpus_entropy` — per-text, per-layer entropy of one model on one corpus's held-out passages.
* :func:`random_init` — the same architecture with fresh random weights (the control every fit is repeated on,
  and the reference of Diff-eRank).
* :func:`null_exponent` — the exponent that ``H / ln d`` shows against parameters if raw ``H`` does not move
  at all, only because the width ``d`` grows with the parameter count.
* :func:`isotropic_spectra` — the finite-length null: spectra of passages of isotropic Gaussian states of a model's
  width and a passage's length, normalised as the book normalises real states. At ``N`` tokens even pure noise
  has ``H < ln d``, by an amount that depends on ``d / N``, so ``H / ln d`` of noise changes with the width too.
* :func:`corpus_spectra` — the last layer's per-passage eigenvalue spectrum (cached), from which chapter 2's
  deciding entropies and chapter 3's per-passage spectral decays are both read, so the two chapters share one
  forward pass.
* :func:`layer_profile` — entropy of every layer with and without token 0, and token 0's norm over the
  median of the others (the massive activation), from one forward pass, cached.

The null model also runs on the published shapes of the Pythia and Cerebras-GPT suites, with non-embedding
parameters approximated as ``12 · layers · width²`` (attention plus a 4×-wide MLP, without biases and norms).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from llmgeom.core.entropy import matrix_entropy, token_spectra
from llmgeom.core.fit import fit_power_law
from llmgeom.data.corpora import sample_passages
from llmgeom.measure.extract import (LayerEntropy, batches_of_ids, iter_batches, layer_entropy, layer_entropy_path,
                                     tokenize)
from llmgeom.models.loading import LoadedModel
from llmgeom.store.cache import cached_arrays, result_path, save_arrays

PYTHIA_SHAPES = {
    "pythia-14m": (6, 128), "pythia-70m": (6, 512), "pythia-160m": (12, 768), "pythia-410m": (24, 1024),
    "pythia-1b": (16, 2048), "pythia-1.4b": (24, 2048), "pythia-2.8b": (32, 2560), "pythia-6.9b": (32, 4096),
    "pythia-12b": (36, 5120),
}
"""Depth and width of the Pythia suite (Biderman et al. 2023)."""

CEREBRAS_SHAPES = {
    "cerebras-gpt-111m": (10, 768), "cerebras-gpt-256m": (14, 1088), "cerebras-gpt-590m": (18, 1536),
    "cerebras-gpt-1.3b": (24, 2048), "cerebras-gpt-2.7b": (32, 2560), "cerebras-gpt-6.7b": (32, 4096),
    "cerebras-gpt-13b": (40, 5120),
}
"""Depth and width of the Cerebras-GPT suite (Dey et al. 2023)."""


def approx_non_embedding(shapes: dict[str, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(widths, 12 · layers · width²)`` for a table of ``(layers, width)``."""
    layers = np.array([s[0] for s in shapes.values()], dtype=float)
    widths = np.array([s[1] for s in shapes.values()], dtype=float)
    return widths, 12 * layers * widths**2


def null_exponent(widths, params) -> float:
    """Exponent ``b`` of ``H / ln d ∝ P^(−b)`` when ``H`` is the same at every size.

    Then ``H / ln d ∝ 1 / ln d``: a power-law fit of ``1 / ln d`` against ``P`` gives the exponent that the
    normaliser alone produces (chapter 1, "The ln d confound").
    """
    widths = np.asarray(widths, dtype=float)
    return fit_power_law(params, 1 / np.log(widths)).b


def isotropic_spectra(width: int, n_tokens: int, n_texts: int, seed: int = 0, batch_size: int = 32
                      ) -> dict[str, np.ndarray]:
    """Spectra of ``n_texts`` passages of ``n_tokens`` independent standard Gaussian states in ``width`` dimensions.

    Each passage goes through :func:`llmgeom.core.entropy.token_spectra` exactly as a model's states do (centred,
    unit rows, trace-one ``Σ``, float32 Gram), so every metric of chapter 2 reads it like a measured passage.

    Returns
    -------
    dict like :func:`corpus_spectra`'s: ``"eigenvalues"`` ``[texts, min(n_tokens, width)]`` and ``"n_tokens"``
    ``[texts]``. The draws depend only on ``(seed, width, n_tokens)`` and the passage's index.
    """
    if n_tokens < 2 or width < 1 or n_texts < 1:
        raise ValueError(f"need n_tokens >= 2, width >= 1 and n_texts >= 1; got {n_tokens}, {width}, {n_texts}")
    rng = np.random.default_rng([seed, width, n_tokens])
    rank = min(n_tokens, width)
    eigenvalues = np.empty((n_texts, rank))
    for start in range(0, n_texts, batch_size):
        count = min(batch_size, n_texts - start)
        states = torch.from_numpy(rng.standard_normal((count, n_tokens, width), dtype=np.float32))
        eigenvalues[start:start + count] = token_spectra(states, dtype=torch.float32).eigenvalues[:, :rank]
    return {"eigenvalues": eigenvalues, "n_tokens": np.full(n_texts, n_tokens)}


def random_init(loaded: LoadedModel, seed: int = 0) -> LoadedModel:
    """The same architecture and tokenizer with freshly initialised weights (the model's own init scheme).

    For a ladder model and its training seed these are, tensor for tensor, the weights its training started from
    (``tests/test_family.py`` checks every committed rung)."""
    torch.manual_seed(seed)
    model = type(loaded.model)(loaded.model.config)
    model.eval()
    return LoadedModel(
        name=f"{loaded.name} (random init, seed {seed})", model=model, tokenizer=loaded.tokenizer,
        is_encoder=loaded.is_encoder, source=f"random init of {loaded.source}",
    )


def corpus_entropy(
    loaded: LoadedModel,
    corpus: str,
    n_texts: int,
    n_tokens: int,
    layers="last",
    drop_first_token: bool = False,
    seed: int = 0,
    batch_size: int = 16,
) -> LayerEntropy:
    """Entropy of ``n_texts`` held-out passages of exactly ``n_tokens`` tokens (same passages for a shared
    tokenizer and seed), at the chosen layers."""
    passages = sample_passages(corpus, loaded.tokenizer, n_texts, n_tokens, split="heldout", seed=seed)
    return layer_entropy(
        loaded, [p.text for p in passages], layers=layers, batch_size=batch_size, max_tokens=n_tokens,
        drop_first_token=drop_first_token, progress=False,
    )


def corpus_spectra(
    loaded: LoadedModel,
    corpus: str,
    n_texts: int,
    n_tokens: int,
    drop_first_token: bool = False,
    seed: int = 0,
    batch_size: int = 16,
) -> dict[str, np.ndarray]:
    """Trace-normalised eigenvalues of the last layer's ``Σ`` for each held-out passage (chapter 1's definition).

    Returns
    -------
    dict with ``"eigenvalues"`` ``[texts, min(n_tokens, d)]`` (descending; zeros past a text's rank, NaN rows for
    invalid texts) and ``"n_tokens"`` ``[texts]`` (tokens that entered ``Σ``). ``spectral_entropy`` of a row is
    exactly that passage's ``H`` from :func:`corpus_entropy` with ``layers="last"``, in float32 Gram precision.
    Cached under the model's content, the passages and the settings.
    """
    passages = sample_passages(corpus, loaded.tokenizer, n_texts, n_tokens, split="heldout", seed=seed)
    texts = [p.text for p in passages]

    def compute():
        width = min(n_tokens, loaded.width)
        eigenvalues = np.full((len(texts), width), np.nan)
        counts = np.zeros(len(texts), dtype=int)
        for batch in iter_batches(loaded, texts, layers="last", batch_size=batch_size, max_tokens=n_tokens,
                                  progress=False):
            mask = batch.mask.clone()
            if drop_first_token:
                mask[:, 0] = False
            spectra = token_spectra(batch.hidden[-1], mask, dtype=torch.float32)
            eigenvalues[batch.indices] = spectra.eigenvalues[:, :width]
            counts[batch.indices] = spectra.n_tokens
        return {"eigenvalues": eigenvalues, "n_tokens": counts}

    return cached_arrays("corpus_spectra", compute, model=loaded.fingerprint, ids=tokenize(loaded, texts, n_tokens),
                         drop_first_token=drop_first_token)


def spectra_and_prefixes(loaded: LoadedModel, corpus: str, n_texts: int, n_tokens: int, prefixes: Sequence[int],
                         seed: int = 0, batch_size: int = 16) -> None:
    """Fill the cache of :func:`corpus_spectra` at ``n_tokens`` and of :func:`corpus_entropy` (every layer) at each
    shorter length in ``prefixes``, from one forward pass of the longer passages.

    Passages of one seed start at the same places whatever their length, so a shorter passage is usually the
    longer one's first tokens; a causal model's states on it are then the longer pass's first states (up to the
    rounding of another matrix shape). Those entropies are read from the long pass; a passage whose shorter cut
    is not a prefix (a merge across the cut) runs on its own. Entries already cached are left as they are.
    """
    def ids_of(length):
        texts = [p.text for p in sample_passages(corpus, loaded.tokenizer, n_texts, length, split="heldout", seed=seed)]
        return tokenize(loaded, texts, length)

    long_ids = ids_of(n_tokens)
    layers = list(range(loaded.n_layers + 1))
    short = {n: ids_of(n) for n in prefixes if n < n_tokens}
    paths = {n: layer_entropy_path(loaded, ids, layers) for n, ids in short.items()}
    short = {n: ids for n, ids in short.items() if not paths[n].is_file()}
    spectra_key = dict(model=loaded.fingerprint, ids=long_ids, drop_first_token=False)
    if not short and result_path("corpus_spectra", **spectra_key).is_file():
        return
    width = min(n_tokens, loaded.width)
    eigenvalues, counts = np.full((len(long_ids), width), np.nan), np.zeros(len(long_ids), dtype=int)
    entropy = {n: np.full((len(long_ids), len(layers)), np.nan) for n in short}
    for out in batches_of_ids(loaded, long_ids, layers, batch_size, progress=False):
        batch = out.indices
        spectra = token_spectra(out.hidden[-1], out.mask, dtype=torch.float32)  # exactly corpus_spectra's
        eigenvalues[batch] = spectra.eigenvalues[:, :width]
        counts[batch] = spectra.n_tokens
        for n, ids in short.items():
            rows = [r for r, i in enumerate(batch) if ids[i] == long_ids[i][:n]]
            if rows:
                entropy[n][[batch[r] for r in rows]] = np.stack(
                    [matrix_entropy(h[rows, :n], out.mask[rows, :n], dtype=torch.float32).entropy for h in out.hidden],
                    axis=1)
    for n, ids in short.items():
        alone = [i for i in range(len(ids)) if ids[i] != long_ids[i][:n]]
        for out in batches_of_ids(loaded, [ids[i] for i in alone], layers, batch_size, progress=False):
            entropy[n][[alone[j] for j in out.indices]] = np.stack(
                [matrix_entropy(h, out.mask, dtype=torch.float32).entropy for h in out.hidden], axis=1)
        save_arrays(paths[n], entropy=entropy[n], n_tokens=np.array([len(i) for i in ids]), width=np.array(loaded.width))
    cached_arrays("corpus_spectra", lambda: {"eigenvalues": eigenvalues, "n_tokens": counts}, **spectra_key)


def layer_profile(loaded: LoadedModel, texts: Sequence[str], batch_size: int = 16) -> dict[str, np.ndarray]:
    """Every layer's entropy with all tokens and without token 0, and token 0's norm ratio, in one pass.

    Returns
    -------
    dict with ``"with_first"`` and ``"without_first"`` (``[texts, layers]`` entropy in nats) and
    ``"norm_ratio"`` (``[texts, layers]``: ``‖h_0‖ / median_{i>0} ‖h_i‖``). Cached like every result.
    """

    def compute():
        n_layers = loaded.n_layers + 1
        out = {k: np.full((len(texts), n_layers), np.nan) for k in ("with_first", "without_first", "norm_ratio")}
        for batch in iter_batches(loaded, texts, layers="all", batch_size=batch_size, progress=False):
            without = batch.mask.clone()
            without[:, 0] = False
            for j, states in enumerate(batch.hidden):
                out["with_first"][batch.indices, j] = matrix_entropy(states, batch.mask, dtype=torch.float32).entropy
                out["without_first"][batch.indices, j] = matrix_entropy(states, without, dtype=torch.float32).entropy
                norms = states.norm(dim=-1).masked_fill(~without, float("nan")).numpy()
                out["norm_ratio"][batch.indices, j] = states[:, 0].norm(dim=-1).numpy() / np.nanmedian(norms, axis=1)
        return out

    return cached_arrays("layer_profile", compute, model=loaded.fingerprint, texts=list(texts))


def profile_and_random(loaded: LoadedModel, texts: Sequence[str], seed: int = 0, batch_size: int = 16
                       ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`layer_profile` of the model and of its random initialisation (:func:`random_init` with ``seed``) on the
    same texts — chapter 2's layer profiles of the pretrained decoders, and a reproduction card's C1."""
    return layer_profile(loaded, texts, batch_size), layer_profile(random_init(loaded, seed=seed), texts, batch_size)
