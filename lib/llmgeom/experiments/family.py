"""A family of models of increasing size, and the size law of chapter 2 across it (claim C1).

Derived in chapter 2, "Entropy across model sizes" (``notebooks/02_entropy_vs_size.md``).

* :class:`Family` — models grouped by size, training seeds within a size, smallest first. It comes from the
  project's ladder (:func:`ladder_family`, every committed seed, at the full or the quarter token budget) or from
  any list of hub ids and folders (:func:`family_from_spec`); :func:`family_from_env` reads ``LLMGEOM_FAMILY``
  (comma-separated, e.g. the Pythia suite) and falls back to the ladder.
* :func:`size_law` — every member's entropy on the same held-out passages and the same for a randomly initialised
  copy built from its config; power laws in non-embedding parameters with intervals from a bootstrap over seeds
  within sizes, then passages (:func:`llmgeom.core.fit.hierarchical_means`); trained minus random; and the exponent that
  the ``ln d`` normaliser alone would give, from the members' configs.
* :func:`loss_groups` — the ladder's held-out losses per sequence, grouped like the entropies, for the loss law.

Widths come from each config's ``hidden_size``; non-embedding parameters are counted on the model itself, leaving
out the input embedding and the output matrix (tied or not), the scaling-law convention.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from llmgeom.core.entropy import spectral_entropy
from llmgeom.core.fit import BootstrapFit, bootstrap_power_law, hierarchical_exponent_difference, hierarchical_power_law
from llmgeom.core.stats import side_word
from llmgeom.experiments.scaling import corpus_entropy, corpus_spectra, null_exponent, random_init, spectra_and_prefixes
from llmgeom.measure.extract import LayerEntropy, parse_layers
from llmgeom.models.loading import LoadedModel, load, non_embedding_parameters
from llmgeom.models.registry import ladder_models, training_log

FAMILY_VARIABLE = "LLMGEOM_FAMILY"

METRICS = {
    "H/ln d": lambda r: r.normalized[:, -1],
    "H": lambda r: r.entropy[:, -1],
    "eRank": lambda r: r.erank[:, -1],
    "H/ln min(N-1,d)": lambda r: r.normalized_by_rank_bound[:, -1],
}
"""Last-layer metrics of a :class:`~llmgeom.measure.extract.LayerEntropy`, one value per passage."""


@dataclass(frozen=True)
class Member:
    """One model of a family: its name, the loaded model, its width and non-embedding parameters from its config,
    its training seed and (ladder only) its training log."""

    name: str
    loaded: LoadedModel
    width: int
    non_embedding_params: int
    seed: int = 0
    log: dict | None = None


@dataclass(frozen=True)
class Family:
    """Members grouped by size (``sizes[i]`` holds the seeds of size ``i``), smallest first."""

    label: str
    sizes: list[list[Member]]
    has_logs: bool

    @property
    def params(self) -> np.ndarray:
        """Non-embedding parameters per size ``[sizes]``."""
        return np.array([size[0].non_embedding_params for size in self.sizes], dtype=float)

    @property
    def widths(self) -> np.ndarray:
        return np.array([size[0].width for size in self.sizes], dtype=float)

    @property
    def names(self) -> list[str]:
        """The first seed's name for each size."""
        return [size[0].name for size in self.sizes]

    @property
    def n_seeds(self) -> list[int]:
        return [len(size) for size in self.sizes]

    @property
    def members(self) -> list[Member]:
        return [m for size in self.sizes for m in size]


def _member(name: str, loaded: LoadedModel, seed: int = 0, log: dict | None = None) -> Member:
    return Member(name, loaded, loaded.width, non_embedding_parameters(loaded.model), seed, log)


def ladder_family(budget: float = 1.0) -> Family:
    """The committed ladder at one token budget (1 or 0.25), every committed seed, grouped by size."""
    groups: dict[tuple[int, int], list[Member]] = {}
    for name, folder in ladder_models(everything=True).items():
        log = training_log(folder)
        if log.get("budget", 1.0) != budget:
            continue
        groups.setdefault((log["width"], log["depth"]), []).append(_member(name, load(name), log["seed"], log))
    if not groups:
        raise ValueError(f"no committed ladder model has the token budget {budget}; run `make ladder`")
    sizes = [sorted(groups[key], key=lambda m: m.seed) for key in sorted(groups, key=lambda k: k[0] * k[1])]
    label = "the ladder" if budget == 1 else f"the ladder at {budget:.0%} of the token budget"
    return Family(label, sorted(sizes, key=lambda s: s[0].non_embedding_params), has_logs=True)


def family_from_spec(spec: str) -> Family:
    """A family from comma-separated hub ids or folders (each its own size, one seed), ordered by size.

    Raises
    ------
    ValueError
        One line, when fewer than two distinct models are named, or two have the same non-embedding parameters.
    llmgeom.store.fetch.ModelUnavailable
        One line, for a name that does not load.
    """
    names = list(dict.fromkeys(part.strip() for part in spec.split(",") if part.strip()))
    if len(names) < 2:
        raise ValueError(f"{FAMILY_VARIABLE} needs at least two comma-separated models for a size law; got {spec!r}")
    members = sorted((_member(name, load(name)) for name in names), key=lambda m: m.non_embedding_params)
    params = [m.non_embedding_params for m in members]
    if len(set(params)) < len(params):
        raise ValueError(f"{FAMILY_VARIABLE}: two members have the same non-embedding parameter count ({params}); "
                         "a size law needs distinct sizes")
    return Family(", ".join(m.name for m in members), [[m] for m in members], has_logs=False)


def family_from_env(variable: str = FAMILY_VARIABLE) -> Family:
    """The family named by ``$LLMGEOM_FAMILY``, else the ladder at its full budget."""
    spec = os.environ.get(variable, "").strip()
    return family_from_spec(spec) if spec else ladder_family()


@dataclass
class SizeLaw:
    """Chapter 2's measurements on one family at one passage length, and the power laws fitted to them."""

    family: Family
    n_tokens: int
    corpora: list[str]
    trained: dict[tuple[str, str], LayerEntropy]
    random: dict[tuple[str, str], LayerEntropy]
    n_boot: int
    seed: int
    fits: dict = field(default_factory=dict)

    def groups(self, metric: str, corpus: str | None = None, random: bool = False) -> list[np.ndarray]:
        """One ``[seeds, passages]`` array per size (all corpora stacked along passages when ``corpus`` is None)."""
        results = self.random if random else self.trained
        chosen = [corpus] if corpus else self.corpora
        return [np.stack([np.concatenate([METRICS[metric](results[(m.name, c)]) for c in chosen]) for m in size])
                for size in self.family.sizes]

    def means(self, metric: str, corpus: str | None = None, random: bool = False) -> np.ndarray:
        """``[sizes]``: the mean over seeds of each seed's mean over passages."""
        return np.array([g.mean(axis=1).mean() for g in self.groups(metric, corpus, random)])

    def first_seed(self, metric: str, corpus: str | None = None, random: bool = False) -> np.ndarray:
        """``[passages, sizes]`` for the first seed of every size (the passage-only analysis)."""
        return np.stack([g[0] for g in self.groups(metric, corpus, random)], axis=1)

    @property
    def null_exponent(self) -> float:
        """The exponent ``H/ln d`` shows if raw ``H`` never moves, from the members' widths and parameters."""
        return null_exponent(self.family.widths, self.family.params)

    @property
    def capped(self) -> bool:
        """Whether some member is wider than ``N − 1``, so that ``H/ln d`` cannot reach 1 at this length."""
        return bool((self.family.widths > self.n_tokens - 1).any())

    def fit(self, metric: str, corpus: str | None = None) -> dict:
        """Trained, random-initialisation and passage-only fits of one metric, and trained minus random, cached
        on the object. Intervals are 95% percentile intervals; all but ``passage_only`` resample seeds too. A law
        measured without random initialisations (``size_law(..., random=False)``) has no ``random`` or
        ``difference``."""
        if (metric, corpus) not in self.fits:
            x = self.family.params
            t = self.groups(metric, corpus)
            fits = {
                "trained": hierarchical_power_law(x, t, n_boot=self.n_boot, seed=self.seed),
                "passage_only": bootstrap_power_law(x, self.first_seed(metric, corpus), n_boot=self.n_boot, seed=self.seed),
            }
            if self.random:
                r = self.groups(metric, corpus, random=True)
                fits["random"] = hierarchical_power_law(x, r, n_boot=self.n_boot, seed=self.seed)
                fits["difference"] = hierarchical_exponent_difference(x, t, r, n_boot=self.n_boot, seed=self.seed)
            self.fits[(metric, corpus)] = fits
        return self.fits[(metric, corpus)]


def size_law(
    family: Family,
    corpora: list[str],
    n_texts: int,
    n_tokens: int,
    layers="last",
    seed: int = 0,
    n_boot: int = 1000,
    random: bool = True,
    prefixes: Sequence[int] = (),
) -> SizeLaw:
    """Measure every member and its random initialisation on the same held-out passages (cached on disk).

    Parameters
    ----------
    family : Family
    corpora : corpus names; ``n_texts`` passages of exactly ``n_tokens`` tokens each, sampled with ``seed``
    layers : which layers to keep. "last", all the size law needs, is read from
        :func:`llmgeom.experiments.scaling.corpus_spectra` (which chapter 3 reuses); "all" feeds chapter 2's layer
        figure
    n_boot : bootstrap draws of every fit
    random : measure each member's random initialisation too (``False`` where no fit of it is read, e.g. the
        under-trained ladder, whose initialisations are the full ladder's)
    prefixes : shorter lengths whose every-layer entropies the same forward pass caches for a later
        ``size_law(..., n, layers="all")`` (:func:`llmgeom.experiments.scaling.spectra_and_prefixes`; ``layers="last"``
        only)

    The random initialisation of a member uses the member's training seed, so for the ladder it is exactly the
    weights the model started training from. Members that share a tokenizer read the same passages, so the
    bootstrap pairs them; members with different tokenizers read the same stretches of text cut differently.
    """
    def measure(loaded, corpus):
        if layers != "last":
            return corpus_entropy(loaded, corpus, n_texts, n_tokens, layers=layers, seed=seed)
        if prefixes:
            spectra_and_prefixes(loaded, corpus, n_texts, n_tokens, prefixes, seed=seed)
        spectra = corpus_spectra(loaded, corpus, n_texts, n_tokens, seed=seed)  # shared with chapter 3
        return LayerEntropy.from_arrays(parse_layers("last", loaded.n_layers), spectral_entropy(spectra["eigenvalues"])[:, None],
                                        spectra["n_tokens"], loaded.width)

    trained, randoms = {}, {}
    for member in family.members:
        if n_tokens > member.loaded.context_length:
            raise ValueError(f"{member.name} reads at most {member.loaded.context_length} tokens; "
                             f"passages of {n_tokens} do not fit")
        untrained = random_init(member.loaded, seed=member.seed) if random else None
        for corpus in corpora:
            trained[(member.name, corpus)] = measure(member.loaded, corpus)
            if untrained is not None:
                randoms[(member.name, corpus)] = measure(untrained, corpus)
    return SizeLaw(family, n_tokens, list(corpora), trained, randoms, n_boot, seed)


def exponent_shift(law_a: SizeLaw, law_b: SizeLaw, metric: str, corpus: str | None = None) -> tuple[float, float, float]:
    """``b(A) − b(B)`` for two families of the same configurations on the same passages (e.g. the ladder at the
    full and at a quarter of the token budget), with seeds and passages resampled: ``(difference, low, high)``."""
    if not np.array_equal(law_a.family.params, law_b.family.params) or law_a.n_tokens != law_b.n_tokens:
        raise ValueError("the two size laws must cover the same sizes at the same passage length")
    return hierarchical_exponent_difference(law_a.family.params, law_a.groups(metric, corpus), law_b.groups(metric, corpus),
                                            n_boot=law_a.n_boot, seed=law_a.seed)


def loss_groups(family: Family) -> list[np.ndarray]:
    """The held-out loss of every sequence, one ``[seeds, sequences]`` array per size (training logs needed)."""
    if not family.has_logs:
        raise ValueError(f"{family.label} has no training logs, so it has no held-out losses to fit")
    return [np.array([m.log["heldout_sequence_losses"] for m in size]) for size in family.sizes]


def loss_law(family: Family, offset: bool = False, n_boot: int = 1000, seed: int = 0) -> BootstrapFit:
    """The held-out loss against non-embedding parameters, seeds within sizes then sequences resampled."""
    return hierarchical_power_law(family.params, loss_groups(family), offset=offset, n_boot=n_boot, seed=seed)


def shift_words(difference: tuple[float, float, float], up: str, down: str, neither: str) -> str:
    """Words for the direction of ``(estimate, low, high)``: ``up`` if the interval is above zero, ``down`` if
    below, ``neither`` if it contains zero (so a sentence that states a direction is computed, not typed)."""
    return side_word(difference[1], difference[2], up, down, neither)


@dataclass(frozen=True)
class C1Verdict:
    """Chapter 2's rule for claim C1 at one length, pooled over corpora, intervals over seeds then passages:
    *reproduced* if (a) the H/ln d exponent, (b) both normaliser-free exponents (raw H and eRank) and (c) the
    trained-minus-random H/ln d difference all have intervals above zero; *partly reproduced* if (a) and one of (b)
    and (c) hold; *not reproduced* otherwise."""

    companion_falls: bool
    free_falls: bool
    beyond_random: bool

    @property
    def word(self) -> str:
        if self.companion_falls and self.free_falls and self.beyond_random:
            return "reproduced"
        if self.companion_falls and (self.free_falls or self.beyond_random):
            return "partly reproduced"
        return "not reproduced"


def c1_verdict(law: SizeLaw) -> C1Verdict:
    """Chapter 2's verdict on C1 from a size law (:class:`C1Verdict` states the rule)."""
    lnd, h, erank = (law.fit(metric) for metric in ("H/ln d", "H", "eRank"))
    return C1Verdict(companion_falls=lnd["trained"].b_low > 0,
                     free_falls=h["trained"].b_low > 0 and erank["trained"].b_low > 0,
                     beyond_random=lnd["difference"][1] > 0)
