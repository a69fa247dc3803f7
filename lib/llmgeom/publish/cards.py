"""Reproduction cards as Markdown: a card's headline numbers, cards side by side, a family card's size law.

Cards are measured, combined and validated by :mod:`llmgeom.experiments.card` (``python -m llmgeom card``); this
module only formats what they hold.
"""

from __future__ import annotations

from llmgeom.experiments.selectors import HEAD_MEAN, LASSO_STATE, RECENCY
from llmgeom.publish.glue import format_interval


def _fmt(cell, percent=False) -> str:
    if cell is None:
        return "—"
    return format_interval(cell["mean"], cell["low"], cell["high"], ".0%" if percent else ".3f")


def summary_rows(card: dict) -> dict[str, str]:
    """The card's headline numbers, one ``{row label: text}`` per measurement (for tables and comparisons)."""
    parts, rows = card.get("parts", {}), {}
    if "feeding" in parts:
        f = parts["feeding"]
        rows["feeding: loss (without prefix)"] = f"{f['loss']:.3f} ({f['loss_without_prefix']:.3f})"
    if "c1" in parts:
        c = parts["c1"]
        last = {k: c["trained"][k]["H/ln d"][-1] for k in c["trained"]}
        rows["C1: last-layer H/ln d, all tokens"] = f"{last['all tokens']:.3f}"
        rows["C1: last-layer H/ln d, without the first text token"] = f"{last['without the first text token']:.3f}"
        rows["C1: last-layer H, random init"] = f"{c['random_init']['all tokens']['H'][-1]:.3f}"
        rows["C1: trained − random H"] = _fmt(c["trained_minus_random_H"])
        rows["C1: N, and N − 1 < d?"] = f"{c['n_tokens']}, {'yes (capped)' if c['capped_by_length'] else 'no'}"
    if "c3" in parts:
        c = parts["c3"]
        rows["C3: ridge identity, max relative error"] = f"{c['ridge_identity_max_relative_error']:.1e}"
        rows["C3: gains along positions, better law"] = (f"{c['better_law']} (R² {c['power_law']['r2_log']:.3f} vs "
                                                         f"{c['exponential']['r2_log']:.3f})")
    if "c4" in parts:
        c = parts["c4"]
        rows["C4: planted prompts answered (non-identity)"] = f"{c['n_answered']} ({c['n_answered_non_identity']})"
        for selector in (LASSO_STATE, HEAD_MEAN, RECENCY):
            cell = c["pooled_non_identity"].get(selector, {})
            rows[f"C4: {selector}, top-1 / precision@3"] = f"{_fmt(cell.get('top-1'))} / {_fmt(cell.get('precision@3'))}"
    if "c5" in parts:
        c = parts["c5"]
        control = c["control"]
        rows["C5: natural-text control passes"] = ("yes" if control["passes"] else "no") + (
            f", {_fmt(control['answer_bearing_share'], True)}" if "answer_bearing_share" in control else "")
        rows[f"C5: literal reading ({c['n_literal_texts']} passages)"] = c["literal"]["word"]
        rows["C5: concentration reading (oracle bracket: cross-fitted, naive)"] = (
            f"{c['concentration']['word']}, {_fmt(c['concentration']['oracle_cross_fitted_k1'], True)}, "
            f"{_fmt(c['oracle_naive_k1'], True)}")
    if "c6" in parts:
        acc = parts["c6"]["accuracy"]
        for dist in ("cosine of means", "Bures–Wasserstein", "token-id Jaccard"):
            if dist in acc:
                rows[f"C6: {dist}, swap / unrelated"] = f"{_fmt(acc[dist]['swap'])} / {_fmt(acc[dist]['unrelated'])}"
    for part, why in card.get("not_applicable", {}).items():
        rows[f"{part}: does not apply"] = why
    return rows


def compare_markdown(cards: list[dict], sources: list[str] | None = None) -> str:
    """Cards side by side as one Markdown table (rows: measurements; columns: models). Where two cards are of one
    model, each column also names its ``sources`` entry (e.g. its file) or, without them, its position."""
    rows = [summary_rows(c) for c in cards]
    labels = list(dict.fromkeys(label for r in rows for label in r))
    names = [c["model"] for c in cards]
    sources = sources or [f"card {i + 1}" for i in range(len(cards))]
    headings = [f"`{n}`" + (f" ({src})" if names.count(n) > 1 else "") for n, src in zip(names, sources)]
    lines = ["| measurement | " + " | ".join(headings) + " |",
             "|---|" + "---|" * len(cards)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(r.get(label, "—") for r in rows) + " |")
    return "\n".join(lines)


def family_markdown(family: dict) -> str:
    """A family card's size law as one Markdown table."""
    lines = [f"Family of {len(family['family'])} ({', '.join(family['family'])}); last layer, N = {family['n_tokens']}, "
             f"{family['n_texts']} passages; null exponent {family['null_exponent']:.4f}.", "",
             "| metric | trained b [95% CI] | random init b | trained − random |", "|---|---|---|---|"]
    for metric, f in family["size_law"].items():
        t, r = f["trained"], f["random_init"]
        lines.append(f"| {metric} | {format_interval(t['b'], t['low'], t['high'])} | "
                     f"{format_interval(r['b'], r['low'], r['high'])} | {_fmt(f['trained_minus_random'])} |")
    return "\n".join(lines)
