"""Power-law fits with bootstrap confidence intervals (appendix "The model ladder", chapter 2).

``y = a · x^(−b)`` is fitted by least squares on ``log y`` against ``log x``; ``y = a · x^(−b) + c`` by
non-linear least squares on ``log y`` (so every point weighs the same whatever its scale). R² is always
reported on ``log y``.

Uncertainty comes from the texts, not from the handful of model sizes: :func:`bootstrap_power_law` resamples
the evaluation texts (the rows of a ``[texts, models]`` table) with replacement — the same rows for every
model, since every model read the same texts — recomputes each model's mean and refits. The percentile
interval of the refitted exponents is the reported CI.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit


@dataclass(frozen=True)
class PowerLawFit:
    """``y = a · x^(−b) (+ c)``; ``c`` is None for the pure power law."""

    a: float
    b: float
    c: float | None
    r2: float
    n: int

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return self.a * x ** (-self.b) + (self.c or 0.0)


def _r2(log_y: np.ndarray, log_pred: np.ndarray) -> float:
    total = ((log_y - log_y.mean()) ** 2).sum()
    return float(1 - ((log_y - log_pred) ** 2).sum() / total) if total > 0 else float("nan")


def fit_power_law(x, y, offset: bool = False) -> PowerLawFit:
    """Fit ``y = a x^(−b)`` (or ``+ c`` when ``offset``) to positive data.

    Parameters
    ----------
    x, y : arrays ``[n]`` of positive numbers (``n ≥ 2``; ``n ≥ 4`` with an offset)
    offset : bool
        Also fit an irreducible floor ``c ≥ 0``.

    Returns
    -------
    PowerLawFit
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d arrays of the same length; got {x.shape} and {y.shape}")
    if (x <= 0).any() or (y <= 0).any() or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("a power law needs positive, finite x and y")
    if len(x) < (4 if offset else 2):
        raise ValueError(f"too few points ({len(x)}) for a power law{' with an offset' if offset else ''}")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    if not offset:
        return PowerLawFit(float(np.exp(intercept)), float(-slope), None, _r2(np.log(y), intercept + slope * np.log(x)), len(x))

    def model(log_x, log_a, b, c):
        return np.log(np.exp(log_a - b * log_x) + c)

    start = (intercept - np.log(2.0), max(-slope, 1e-3) * 2, y.min() / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            (log_a, b, c), _ = curve_fit(
                model, np.log(x), np.log(y), p0=start,
                bounds=([-np.inf, 0.0, 0.0], [np.inf, 10.0, y.min()]), maxfev=20000,
            )
        except RuntimeError:  # no convergence: report the floor-free fit's shape with c = 0
            log_a, b, c = intercept, -slope, 0.0
    return PowerLawFit(float(np.exp(log_a)), float(b), float(c), _r2(np.log(y), model(np.log(x), log_a, b, c)), len(x))


@dataclass(frozen=True)
class BootstrapFit:
    """A fit on the full data plus the bootstrap distribution of its exponent."""

    fit: PowerLawFit
    b_low: float
    b_high: float
    b_samples: np.ndarray
    confidence: float

    @property
    def b_halfwidth(self) -> float:
        return (self.b_high - self.b_low) / 2


def percentile_interval(samples, confidence: float = 0.95, axis=None):
    """The central ``confidence`` percentile interval of bootstrap samples, NaN ignored: every interval in the book.

    With ``axis=None``, ``(low, high)`` as floats; with an axis, ``(low, high)`` as arrays over the other axes
    (e.g. one interval per model from ``[draws, models]`` with ``axis=0``).
    """
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(np.asarray(samples, dtype=float), [tail, 100 - tail], axis=axis)
    return (float(low), float(high)) if axis is None else (low, high)


def bootstrap_power_law(
    x, per_text, offset: bool = False, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> BootstrapFit:
    """Fit the per-model means of a ``[texts, models]`` table and bootstrap the exponent over texts.

    Parameters
    ----------
    x : array ``[models]`` (e.g. non-embedding parameters)
    per_text : array ``[texts, models]``; rows are texts every model read (NaN rows are dropped)
    offset : bool
    n_boot : int
    seed : int
    confidence : float

    Returns
    -------
    BootstrapFit
    """
    table = np.asarray(per_text, dtype=float)
    if table.ndim != 2 or table.shape[1] != len(x):
        raise ValueError(f"per_text must be [texts, {len(x)}]; got {table.shape}")
    table = table[np.isfinite(table).all(axis=1)]
    if len(table) < 2:
        raise ValueError("need at least two texts with a value for every model")
    fit = fit_power_law(x, table.mean(axis=0), offset=offset)
    rng = np.random.default_rng(seed)
    samples = np.array([
        fit_power_law(x, table[rng.integers(0, len(table), len(table))].mean(axis=0), offset=offset).b
        for _ in range(n_boot)
    ])
    low, high = percentile_interval(samples, confidence)
    return BootstrapFit(fit, float(low), float(high), samples, confidence)


def bootstrap_mean_ci(values, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` (NaN dropped) with a percentile bootstrap interval: ``(mean, low, high)``."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError("no finite values to average")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    low, high = percentile_interval(means, confidence)
    return float(values.mean()), float(low), float(high)


def cluster_bootstrap_mean_ci(
    values, clusters, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``values`` with a percentile interval that resamples whole *clusters* (e.g. the verb template a
    sentence was built from), not single values: ``(mean, low, high)``.

    Values built from shared ingredients are not independent; resampling them one by one understates the
    uncertainty. Each bootstrap draw takes as many clusters as there are, with replacement, and averages every
    value of the clusters drawn (chapter 7). NaN values are dropped.
    """
    values = np.asarray(values, dtype=float)
    clusters = np.asarray(clusters)
    if values.shape != clusters.shape or values.ndim != 1:
        raise ValueError(f"values and clusters must be 1-D and of the same length; got {values.shape}, {clusters.shape}")
    keep = np.isfinite(values)
    values, clusters = values[keep], clusters[keep]
    if not len(values):
        raise ValueError("no finite values to average")
    labels, index = np.unique(clusters, return_inverse=True)
    sums = np.bincount(index, weights=values, minlength=len(labels))
    counts = np.bincount(index, minlength=len(labels)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(labels), (n_boot, len(labels)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = percentile_interval(means, confidence)
    return float(values.mean()), float(low), float(high)


def bootstrap_exponent_difference(
    x, per_text_a, per_text_b, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Paired bootstrap of ``b(A) − b(B)``, the difference of power-law exponents of two tables of the same texts.

    Both ``[texts, models]`` tables are resampled with the *same* rows each time (e.g. trained and randomly
    initialised copies reading the same passages), so what the texts share cancels. Returns
    ``(difference on the full data, low, high)``.
    """
    a = np.asarray(per_text_a, dtype=float)
    b = np.asarray(per_text_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(x):
        raise ValueError(f"both tables must be [texts, {len(x)}] and of the same shape; got {a.shape}, {b.shape}")
    keep = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[keep], b[keep]
    full = fit_power_law(x, a.mean(axis=0)).b - fit_power_law(x, b.mean(axis=0)).b
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(a), len(a))
        diffs.append(fit_power_law(x, a[rows].mean(axis=0)).b - fit_power_law(x, b[rows].mean(axis=0)).b)
    low, high = percentile_interval(diffs, confidence)
    return float(full), float(low), float(high)


def bootstrap_ratio_ci(
    numerator, denominator, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``mean(numerator) / mean(denominator)`` over paired values (e.g. texts), with a percentile bootstrap
    interval that resamples the pairs together: ``(ratio, low, high)``. Pairs with a NaN are dropped.

    Chapter 6 uses it for the share of the context's information that removing a few tokens takes away.
    """
    a = np.asarray(numerator, dtype=float)
    b = np.asarray(denominator, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"numerator and denominator must be 1-D and paired; got shapes {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if not len(a) or b.mean() == 0:
        raise ValueError("no finite pairs, or the denominator averages to zero")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(a), (n_boot, len(a)))
    ratios = a[rows].mean(axis=1) / b[rows].mean(axis=1)
    low, high = percentile_interval(ratios, confidence)
    return float(a.mean() / b.mean()), float(low), float(high)


# ------------------------------------------------------------------ seeds within sizes, then texts (chapter 2)


def power_law_exponents(x, means) -> np.ndarray:
    """Exponent ``b`` of ``y = a x^(−b)`` for every row of ``means`` ``[draws, points]`` at once.

    The same least squares on ``log y`` against ``log x`` as :func:`fit_power_law`, in closed form, so that a
    thousand bootstrap refits cost one matrix product.
    """
    log_x = np.log(np.asarray(x, dtype=float))
    log_y = np.log(np.asarray(means, dtype=float))
    centred = log_x - log_x.mean()
    return -((log_y - log_y.mean(axis=-1, keepdims=True)) @ centred) / (centred @ centred)


def _check_groups(groups, n_texts=None) -> list[np.ndarray]:
    checked = [np.atleast_2d(np.asarray(g, dtype=float)) for g in groups]
    lengths = {g.shape[1] for g in checked}
    if len(lengths) != 1 or (n_texts is not None and lengths != {n_texts}):
        raise ValueError(f"every size's table must be [seeds, texts] over the same texts; got shapes "
                         f"{[g.shape for g in checked]}")
    return checked


def hierarchical_means(tables: dict, n_boot: int = 1000, seed: int = 0) -> tuple[dict, dict]:
    """Per-size means on the full data and under a two-level bootstrap: seeds within each size, then texts.

    Parameters
    ----------
    tables : ``{name: [array [seeds_i, texts] for each size i]}``
        Every table reads the same texts (the columns). Tables with the same number of seeds at a size are
        resampled with the *same* seeds (e.g. trained models and their own random initialisations), and every
        table with the same texts, so what they share cancels in a difference.
    n_boot, seed : int

    Returns
    -------
    ``(full, draws)``: ``full[name]`` is ``[sizes]``, the mean over seeds of each seed's mean over texts;
    ``draws[name]`` is ``[n_boot, sizes]``. A text with a NaN in any table is dropped from all of them.

    Each draw picks, for every size, as many seeds as it has, with replacement, then as many texts as there are,
    with replacement (the same texts for every model). The interval therefore covers the variation between
    training seeds (initialisation only: every seed of the ladder read the same data in the same order) as well
    as the sampling of texts. A size with one seed contributes no seed variation.
    """
    checked = {name: _check_groups(groups) for name, groups in tables.items()}
    widths = {g.shape[1] for groups in checked.values() for g in groups}
    if len(widths) != 1:
        raise ValueError(f"every table must read the same texts; got text counts {sorted(widths)}")
    keep = np.ones(widths.pop(), dtype=bool)
    for groups in checked.values():
        for g in groups:
            keep &= np.isfinite(g).all(axis=0)
    if keep.sum() < 2:
        raise ValueError("need at least two texts with a value for every model")
    checked = {name: [g[:, keep] for g in groups] for name, groups in checked.items()}
    n_texts = int(keep.sum())
    n_sizes = {len(groups) for groups in checked.values()}
    if len(n_sizes) != 1:
        raise ValueError(f"every table must have the same sizes; got {sorted(n_sizes)}")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_texts, (n_boot, n_texts))
    weights = np.stack([np.bincount(r, minlength=n_texts) for r in rows]) / n_texts  # [n_boot, texts]
    picks = {}
    for i in range(n_sizes.pop()):
        for count in sorted({groups[i].shape[0] for groups in checked.values()}):
            picks[(i, count)] = rng.integers(0, count, (n_boot, count))
    full, draws = {}, {}
    for name, groups in checked.items():
        full[name] = np.array([g.mean(axis=1).mean() for g in groups])
        columns = []
        for i, g in enumerate(groups):
            per_seed = weights @ g.T  # [n_boot, seeds]
            columns.append(np.take_along_axis(per_seed, picks[(i, g.shape[0])], axis=1).mean(axis=1))
        draws[name] = np.stack(columns, axis=1)
    return full, draws


def hierarchical_power_law(
    x, groups, offset: bool = False, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> BootstrapFit:
    """:func:`bootstrap_power_law` with seeds: fit the per-size means of ``groups`` (one ``[seeds, texts]`` array
    per size, see :func:`hierarchical_means`) and bootstrap the exponent over seeds within sizes, then texts."""
    full, draws = hierarchical_means({"y": groups}, n_boot=n_boot, seed=seed)
    fit = fit_power_law(x, full["y"], offset=offset)
    if offset:
        samples = np.array([fit_power_law(x, row, offset=True).b for row in draws["y"]])
    else:
        samples = power_law_exponents(x, draws["y"])
    low, high = percentile_interval(samples, confidence)
    return BootstrapFit(fit, low, high, samples, confidence)


def hierarchical_exponent_difference(
    x, groups_a, groups_b, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``b(A) − b(B)`` with an interval from one two-level bootstrap of both (paired where the seeds pair; see
    :func:`hierarchical_means`): ``(difference on the full data, low, high)``."""
    full, draws = hierarchical_means({"a": groups_a, "b": groups_b}, n_boot=n_boot, seed=seed)
    difference = fit_power_law(x, full["a"]).b - fit_power_law(x, full["b"]).b
    low, high = percentile_interval(power_law_exponents(x, draws["a"]) - power_law_exponents(x, draws["b"]), confidence)
    return float(difference), low, high


def hierarchical_curvature(x, groups, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
                           ) -> tuple[float, float, float]:
    """The quadratic term of a log–log fit, a check of the power-law shape: ``c`` of
    ``ln y = a + b u + c u²`` with ``u = ln x − mean(ln x)``, on the per-size means of ``groups`` (one
    ``[seeds, texts]`` array per size, see :func:`hierarchical_means`), with an interval from the same two-level
    bootstrap: ``(c, low, high)``. A power law has ``c = 0``; a trend that bends in log–log space does not."""
    log_x = np.log(np.asarray(x, dtype=float))
    if len(log_x) < 4:
        raise ValueError(f"a quadratic fit with an interval needs at least four sizes; got {len(log_x)}")
    u = log_x - log_x.mean()
    solve = np.linalg.pinv(np.stack([np.ones_like(u), u, u**2], axis=1))[2]  # the row that gives c
    full, draws = hierarchical_means({"y": groups}, n_boot=n_boot, seed=seed)
    low, high = percentile_interval(np.log(draws["y"]) @ solve, confidence)
    return float(np.log(full["y"]) @ solve), low, high


# ------------------------------------------------------------------ power law or exponential (chapter 4)


def exponential_decay(t, a, tau, c):
    """``a e^(−t/τ) + c``."""
    return a * np.exp(-np.asarray(t, dtype=float) / tau) + c


def compare_decay_laws(curve, t) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Fit ``a t^(−b) + c`` and ``a e^(−t/τ) + c`` to a positive decaying curve (non-linear least squares, ``c``
    between 0 and the curve's minimum) and score both by R² on ``log curve``.

    Returns ``(power (a, b, c), exponential (a, τ, c), R² power, R² exponential)`` (chapter 4's Hilberg question).
    """
    curve, t = np.asarray(curve, dtype=float), np.asarray(t, dtype=float)
    log_y = np.log(curve)
    floor = curve[-1] / 2 if curve[-1] / 2 <= curve.min() else curve.min() / 2  # a start inside the bounds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        power, _ = curve_fit(lambda t, a, b, c: a * t**-b + c, t, curve, p0=(curve[0], 0.5, floor),
                             bounds=([0, 0, 0], [np.inf, 5, curve.min()]), maxfev=20000)
        expo, _ = curve_fit(exponential_decay, t, curve, p0=(curve[0], len(t) / 5, floor),
                            bounds=([0, 1e-3, 0], [np.inf, 1e5, curve.min()]), maxfev=20000)
    return power, expo, _r2(log_y, np.log(power[0] * t ** -power[1] + power[2])), _r2(log_y, np.log(exponential_decay(t, *expo)))
