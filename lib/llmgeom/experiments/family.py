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
* :func:`c1_verdict` — chapter 2's rule (the protocol page): the normalised metric falls beyond both nulls (trained
  minus random initialisation, measured minus isotropic Gaussian states of the same shapes) and the raw metric
  falls. It applies to the matrix entropy and, reported beside it, to the coding rate (:func:`rate_metric`).

Widths come from each config's ``hidden_size``; non-embedding parameters are counted on the model itself, leaving
out the input embedding and the output matrix (tied or not), the scaling-law convention.
"""

from __future__ import annotations

import os
from itertools import pairwise
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from llmgeom.core.entropy import Spectra, coding_rate, spectral_entropy
from llmgeom.core.fit import BootstrapFit, bootstrap_power_law, hierarchical_exponent_difference, hierarchical_power_law
from llmgeom.core.stats import side_word
from llmgeom.experiments.scaling import (corpus_entropy, corpus_spectra, isotropic_spectra, null_exponent, random_init,
                                         spectra_and_prefixes)
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

CODING_RATE_EPS = (0.1, 0.5, 1.0)
"""The distortions ``ε`` at which chapter 2 reads the coding-rate estimand beside the matrix entropy."""


def rate_metric(eps: float, normalize: bool = True) -> str:
    """The name of the coding rate ``R_ε`` as a size-law metric: ``"R(eps=0.5)/max"`` (normalised by its isotropic
    maximum, :func:`llmgeom.core.entropy.coding_rate`) or ``"R(eps=0.5)"`` (nats)."""
    return f"R(eps={eps:g})" + ("/max" if normalize else "")


def _rate_of(metric: str) -> tuple[float, bool] | None:
    if not metric.startswith("R(eps="):
        return None
    return float(metric[len("R(eps="):metric.index(")")]), metric.endswith("/max")


def spectral_metric(metric: str, eigenvalues, n_tokens, width: int) -> np.ndarray:
    """Any size-law metric (``METRICS`` or a :func:`rate_metric`) of each passage, from its cached spectrum
    ``[texts, r]`` and token counts ``[texts]`` (NaN rows stay NaN): ``[texts]``."""
    eigenvalues, n_tokens = np.asarray(eigenvalues, dtype=float), np.asarray(n_tokens)
    rate = _rate_of(metric)
    if rate is not None:
        spectra = Spectra(eigenvalues, n_tokens, int(width), np.isfinite(eigenvalues).all(axis=1))
        return coding_rate(spectra, *rate)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {list(METRICS)} or rate_metric(eps)")
    entropy = LayerEntropy.from_arrays((0,), spectral_entropy(eigenvalues)[:, None], n_tokens, width)
    return METRICS[metric](entropy)


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
    def depths(self) -> np.ndarray:
        """Transformer blocks per size ``[sizes]``."""
        return np.array([size[0].loaded.n_layers for size in self.sizes])

    @property
    def tokens_seen(self) -> np.ndarray:
        """Training tokens per size from the training logs ``[sizes]`` (NaN for a family without logs)."""
        return np.array([size[0].log["tokens_seen"] if size[0].log else np.nan for size in self.sizes], dtype=float)

    @property
    def tokens_per_parameter(self) -> np.ndarray:
        """Training tokens per non-embedding parameter ``[sizes]``: the training regime of each size."""
        return self.tokens_seen / self.params

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
    """Chapter 2's measurements on one family at one passage length, and the power laws fitted to them.

    ``spectra`` holds each passage's last-layer spectrum, ``{("trained" | "random", member, corpus): (eigenvalues,
    n_tokens)}``, when the law was measured at the last layer only; the coding-rate metrics need it."""

    family: Family
    n_tokens: int
    corpora: list[str]
    trained: dict[tuple[str, str], LayerEntropy]
    random: dict[tuple[str, str], LayerEntropy]
    n_boot: int
    seed: int
    fits: dict = field(default_factory=dict)
    spectra: dict = field(default_factory=dict)
    _isotropic: list = field(default_factory=list, repr=False)

    def _values(self, member: Member, corpus: str, metric: str, random: bool) -> np.ndarray:
        if metric in METRICS:
            return METRICS[metric]((self.random if random else self.trained)[(member.name, corpus)])
        key = ("random" if random else "trained", member.name, corpus)
        if key not in self.spectra:
            raise ValueError(f"{metric} needs the last layer's spectra; measure the law with layers='last'")
        return spectral_metric(metric, *self.spectra[key], member.width)

    def groups(self, metric: str, corpus: str | None = None, random: bool = False) -> list[np.ndarray]:
        """One ``[seeds, passages]`` array per size (all corpora stacked along passages when ``corpus`` is None)."""
        chosen = [corpus] if corpus else self.corpora
        return [np.stack([np.concatenate([self._values(m, c, metric, random) for c in chosen]) for m in size])
                for size in self.family.sizes]

    def isotropic_spectra(self) -> list[list[dict]]:
        """The isotropic null's spectra per size and corpus: as many passages of ``n_tokens`` isotropic Gaussian
        states in the size's width as the law reads (:func:`llmgeom.experiments.scaling.isotropic_spectra`),
        drawn once per law."""
        if not self._isotropic:
            first = self.family.sizes[0][0].name
            counts = [len(self.trained[(first, c)].entropy) for c in self.corpora]
            for size in self.family.sizes:
                pool = isotropic_spectra(size[0].width, self.n_tokens, sum(counts), seed=self.seed)
                edges = np.cumsum([0] + counts)
                self._isotropic.append([{k: v[lo:hi] for k, v in pool.items()} for lo, hi in pairwise(edges)])
        return self._isotropic

    def isotropic_groups(self, metric: str, corpus: str | None = None) -> list[np.ndarray]:
        """The isotropic null's values, one ``[1, passages]`` array per size, passage for passage like :meth:`groups`."""
        chosen = [self.corpora.index(corpus)] if corpus else range(len(self.corpora))
        return [np.concatenate([spectral_metric(metric, per_corpus[i]["eigenvalues"], per_corpus[i]["n_tokens"],
                                                size[0].width) for i in chosen])[None]
                for size, per_corpus in zip(self.family.sizes, self.isotropic_spectra())]

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
        """Trained, random-initialisation, isotropic and passage-only fits of one metric, trained minus random and
        measured minus isotropic, cached on the object. Intervals are 95% percentile intervals; all but
        ``passage_only`` resample seeds too. A law measured without random initialisations
        (``size_law(..., random=False)``) has no ``random`` or ``difference``."""
        if (metric, corpus) not in self.fits:
            x = self.family.params
            t = self.groups(metric, corpus)
            iso = self.isotropic_groups(metric, corpus)
            fits = {
                "trained": hierarchical_power_law(x, t, n_boot=self.n_boot, seed=self.seed),
                "passage_only": bootstrap_power_law(x, self.first_seed(metric, corpus), n_boot=self.n_boot, seed=self.seed),
                "isotropic": hierarchical_power_law(x, iso, n_boot=self.n_boot, seed=self.seed),
                "beyond_isotropic": hierarchical_exponent_difference(x, t, iso, n_boot=self.n_boot, seed=self.seed),
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
    spectra = {}

    def measure(loaded, corpus, key):
        if layers != "last":
            return corpus_entropy(loaded, corpus, n_texts, n_tokens, layers=layers, seed=seed)
        if prefixes:
            spectra_and_prefixes(loaded, corpus, n_texts, n_tokens, prefixes, seed=seed)
        cached = corpus_spectra(loaded, corpus, n_texts, n_tokens, seed=seed)  # shared with chapter 3
        spectra[key] = (cached["eigenvalues"], cached["n_tokens"])
        return LayerEntropy.from_arrays(parse_layers("last", loaded.n_layers), spectral_entropy(cached["eigenvalues"])[:, None],
                                        cached["n_tokens"], loaded.width)

    trained, randoms = {}, {}
    for member in family.members:
        if n_tokens > member.loaded.context_length:
            raise ValueError(f"{member.name} reads at most {member.loaded.context_length} tokens; "
                             f"passages of {n_tokens} do not fit")
        untrained = random_init(member.loaded, seed=member.seed) if random else None
        for corpus in corpora:
            trained[(member.name, corpus)] = measure(member.loaded, corpus, ("trained", member.name, corpus))
            if untrained is not None:
                randoms[(member.name, corpus)] = measure(untrained, corpus, ("random", member.name, corpus))
    return SizeLaw(family, n_tokens, list(corpora), trained, randoms, n_boot, seed, spectra=spectra)


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
    """Chapter 2's rule for claim C1 (the protocol page), pooled over corpora, intervals over seeds then passages:
    *reproduced* if the normalised metric falls beyond both nulls — its trained-minus-random and its
    measured-minus-isotropic exponent differences both have intervals above zero — and the raw metric's exponent
    has an interval above zero; *partly reproduced* if it falls beyond both nulls while the raw metric does not;
    *not reproduced* otherwise."""

    beyond_random: bool
    beyond_isotropic: bool
    raw_falls: bool

    @property
    def word(self) -> str:
        if self.beyond_random and self.beyond_isotropic:
            return "reproduced" if self.raw_falls else "partly reproduced"
        return "not reproduced"


def c1_verdict(law: SizeLaw, normalized: str = "H/ln d", raw: str = "H") -> C1Verdict:
    """Chapter 2's verdict on C1 from a size law (:class:`C1Verdict` states the rule); ``normalized`` and ``raw``
    name the estimand's two forms (the matrix entropy by default; ``rate_metric(eps)`` and
    ``rate_metric(eps, normalize=False)`` for the coding rate)."""
    norm = law.fit(normalized)
    if "difference" not in norm:
        raise ValueError("the C1 rule needs the random initialisations; measure the law with random=True")
    return C1Verdict(beyond_random=norm["difference"][1] > 0, beyond_isotropic=norm["beyond_isotropic"][1] > 0,
                     raw_falls=law.fit(raw)["trained"].b_low > 0)
