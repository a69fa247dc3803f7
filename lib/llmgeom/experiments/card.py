"""A reproduction card: the paper's measurements on one model, side by side, in minutes (``python -m llmgeom card``).

Every number comes from the functions the chapters use — nothing here is a second implementation:

* ``feeding`` — the next-token loss as the book feeds the model, and without what it reads first
  (:func:`llmgeom.measure.loss.next_token_loss`; the ``loss`` command);
* ``c1`` — every layer's ``H``, ``H/ln d`` and eRank with and without the first text token, for the model and for a
  random initialisation from its config (:func:`llmgeom.experiments.scaling.layer_profile`, chapter 2), on passages of
  ``N = min(512, context)`` tokens; trained minus random at the last layer with an interval;
* ``c3`` — the ridge identity's largest relative error against scikit-learn, and the information gain along
  positions, power law against exponential (:mod:`llmgeom.core.ridge`, chapter 4);
* ``c4`` — top-1 and precision@3 of the token selectors on the planted prompts the model answers, per task and
  pooled over non-identity tasks (:func:`llmgeom.experiments.tokenselect.run_experiment`, chapter 5);
* ``c5`` — chapter 6's measure, both readings and the cross-fitted oracle, under the default removal and measure,
  with its planted control (:mod:`llmgeom.experiments.spread`);
* ``c6`` — role-swap and unrelated-sentence accuracy of every sentence distance and the lexical baseline at the
  last layer (:mod:`llmgeom.experiments.roleswap`, chapter 7).

An encoder gets ``c1`` and ``c6``. Each part is cached under the model's content, the part, its settings and the
library, so an interrupted card resumes part by part. :func:`family_card` fits chapter 2's size law across member
cards (:mod:`llmgeom.experiments.family`'s fit), which is also how ``--merge`` combines cards computed on different
machines.

The JSON schema is ``card_schema.json`` beside this module (:data:`SCHEMA_VERSION`). This module measures,
combines and validates cards; :mod:`llmgeom.publish.cards` renders them as Markdown.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from dataclasses import asdict, replace
from pathlib import Path

import jsonschema
import numpy as np
import torch
import transformers
from tqdm.auto import tqdm

from llmgeom import __version__
from llmgeom.core.fit import bootstrap_mean_ci, bootstrap_power_law, compare_decay_laws
from llmgeom.core.ridge import prepare_states, ridge_identity_errors
from llmgeom.data.corpora import available_corpora, sample_passages
from llmgeom.data.feeding import text_encoding
from llmgeom.data.planted import ALL_TASKS
from llmgeom.data.sentences import make_triples
from llmgeom.experiments.family import Family, Member, SizeLaw
from llmgeom.experiments.gains import gain_passages, passage_gains
from llmgeom.experiments.roleswap import ALL_DISTANCES, measure_triples, shown_layers, triple_accuracy
from llmgeom.experiments.scaling import profile_and_random
from llmgeom.experiments.settings import CHAPTERS, Settings
from llmgeom.experiments.spreadverdict import DEFAULT as SPREAD_DEFAULT, decide_spread, measure_spread
from llmgeom.experiments.tokenselect import SELECTORS, blocks_for, passage_texts, planted_texts, run_experiment
from llmgeom.measure.extract import LayerEntropy, hidden_states, tokenize
from llmgeom.measure.loss import next_token_loss
from llmgeom.models.loading import load, non_embedding_parameters
from llmgeom.store.cache import cached_json
from llmgeom.store.paths import IN_CHECKOUT, REPO_ROOT

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).with_name("card_schema.json")
PARTS = ("feeding", "c1", "c3", "c4", "c5", "c6")
ENCODER_PARTS = ("c1", "c6")
MIN_CONTROL_PROMPTS = 10
"""Chapter 6's planted control is read only on at least this many answered prompts (as chapter 5's cells)."""


DEFAULT = Settings()
"""A card's quick default: smaller samples than the chapters'."""
FULL = CHAPTERS
"""``--full``: the chapters' own settings (:data:`llmgeom.experiments.settings.CHAPTERS`), so a full card of a book
model reads the chapters' cached results."""


def _interval(triple) -> dict:
    mean, low, high = (float(v) for v in triple)
    return {"mean": mean, "low": low, "high": high}


def _cell(cell) -> dict | None:
    return None if cell is None else {"mean": cell.mean, "low": cell.low, "high": cell.high, "n": cell.n}


CPU_BATCH = 16
"""Passages per forward pass on a CPU (the chapters' batch)."""


def batch_size_for(loaded, n_tokens: int, free_bytes: int | None = None) -> int:
    """Passages per forward pass for the parts that stream passages (C1, C3, C6).

    On a CPU, :data:`CPU_BATCH`. On a GPU, as many passages as a quarter of the free memory holds (between 1 and
    256), each costing its hidden states at every layer and its attention matrices in float32 — what an eager
    forward pass with ``output_hidden_states`` keeps. ``free_bytes`` overrides the measured free memory.
    """
    if free_bytes is None:
        device = loaded.device
        if device.type != "cuda":
            return CPU_BATCH
        free_bytes, _ = torch.cuda.mem_get_info(device)
    config = loaded.model.config
    heads = int(getattr(config, "num_attention_heads", 1) or 1)
    per_text = 4 * ((loaded.n_layers + 1) * n_tokens * loaded.width + loaded.n_layers * heads * n_tokens**2)
    return int(max(1, min(256, free_bytes // 4 // per_text)))


def _blocks(loaded, settings: Settings) -> list[int]:
    return blocks_for(loaded, settings.block_step)


# ------------------------------------------------------------------------------------------------ the parts


def part_feeding(loaded, settings: Settings) -> dict:
    passages = sample_passages(settings.corpus, loaded.tokenizer, settings.feeding_texts, settings.feeding_tokens,
                               "heldout", settings.seed)
    ids = [text_encoding(loaded.tokenizer, p.text) for p in passages]
    prefix = loaded.tokenizer.convert_ids_to_tokens(list(loaded.prefix_ids))
    return {"loss": next_token_loss(loaded, ids), "loss_without_prefix": next_token_loss(loaded, ids, with_prefix=False),
            "prefix": prefix, "n_texts": len(ids), "n_tokens": settings.feeding_tokens}


def part_c1(loaded, settings: Settings) -> dict:
    reserved = len(loaded.prefix_ids) + (2 if loaded.is_encoder else 0)  # a BOS; an encoder's [CLS] and [SEP]
    n_tokens = min(settings.c1_tokens, loaded.context_length - reserved)
    passages = sample_passages(settings.corpus, loaded.tokenizer, settings.c1_texts, n_tokens, "heldout", settings.seed)
    texts = [p.text for p in passages]
    trained, random = profile_and_random(loaded, texts, settings.seed, batch_size_for(loaded, n_tokens))
    d = loaded.width

    def layers(profile):
        out = {}
        for which, key in (("with_first", "all tokens"), ("without_first", "without the first text token")):
            h = profile[which]
            out[key] = {"H": np.nanmean(h, axis=0).tolist(), "H/ln d": (np.nanmean(h, axis=0) / np.log(d)).tolist(),
                        "eRank": np.nanmean(np.exp(h), axis=0).tolist()}
        return out

    last_t, last_r = trained["with_first"][:, -1], random["with_first"][:, -1]
    ids = tokenize(loaded, texts, n_tokens)
    return {
        "n_texts": len(texts), "n_tokens": n_tokens, "width": d, "capped_by_length": bool(n_tokens - 1 < d),
        "trained": layers(trained), "random_init": layers(random),
        "trained_minus_random_H": _interval(bootstrap_mean_ci(last_t - last_r, settings.n_boot, settings.seed)),
        "per_passage": {"H": last_t.tolist(), "H_random": last_r.tolist()},
        "passages_sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
    }


def chapter_corpus(name: str) -> str:
    """``name`` where it is available here, else Shakespeare (the chapters' fallback)."""
    return name if available_corpora().get(name) == "ok" else "shakespeare"


def part_c3(loaded, settings: Settings) -> dict:
    corpus = chapter_corpus(settings.c3_corpus or settings.corpus)
    gains = passage_gains(loaded, corpus, settings.c3_texts, settings.c3_tokens, settings.c3_noise_variance,
                          settings.seed, batch_size=batch_size_for(loaded, settings.c3_tokens + 1))  # chapter 4's
    checked = gain_passages(loaded, corpus, 2, settings.c3_tokens, settings.seed)  # the first two passages
    states = [prepare_states(r["hidden"][-1]) for r in hidden_states(loaded, checked, layers="last", progress=False)]
    errors = np.concatenate([ridge_identity_errors(h, s2) for h in states for s2 in (0.01, 0.1, 1.0)])
    positions = np.arange(1, gains.shape[1] + 1)
    power, expo, r2_power, r2_expo = compare_decay_laws(gains.mean(axis=0), positions)
    pure = bootstrap_power_law(positions, gains, n_boot=settings.n_boot, seed=settings.seed)
    return {
        "n_texts": len(gains), "n_tokens": settings.c3_tokens, "noise_variance": settings.c3_noise_variance,
        "ridge_identity_max_relative_error": float(errors.max()), "positions_checked": int(errors.size),
        "power_law": {"b": float(power[1]), "r2_log": r2_power},
        "exponential": {"tau": float(expo[1]), "r2_log": r2_expo},
        "better_law": "power law" if r2_power > r2_expo else "exponential",
        "pure_power_law_b": {"mean": pure.fit.b, "low": pure.b_low, "high": pure.b_high},
        "first_gain": float(gains.mean(axis=0)[0]), "last_gain": float(gains.mean(axis=0)[-1]),
    }


def part_c4(loaded, settings: Settings) -> dict:
    result = run_experiment(loaded, passage_texts(loaded, settings.corpus, settings.c4_passages, settings.c4_input, settings.seed),
                            planted_texts(loaded, ALL_TASKS, settings.c4_per_task, settings.seed), _blocks(loaded, settings),
                            settings.n_boot, settings.n_resamples, settings.seed)
    pooled = {s: {"top-1": _cell(result.cells["planted top-1 hit", s]),
                  "precision@3": _cell(result.cells["planted precision@3", s])} for s in SELECTORS}
    per_task = {task: {"answered": n, "selectors": {s: {"top-1": _cell(result.per_task[task, s]),
                                                        "precision@3": _cell(result.per_task_precision[task, s])}
                                                    for s in SELECTORS}}
                for task, n in result.n_answered.items()}
    return {"n_prompts": settings.c4_per_task * len(ALL_TASKS), "n_answered": int(sum(result.n_answered.values())),
            "n_answered_non_identity": result.erasure["n_pool"], "pooled_non_identity": pooled, "per_task": per_task,
            "blocks": result.blocks}


def part_c5(loaded, settings: Settings) -> dict:
    result = measure_spread(loaded, settings, MIN_CONTROL_PROMPTS)  # chapter 6's measurement, cached there
    verdict = decide_spread(result, settings.c5_k, settings.n_boot, settings.seed)
    removal, measure = SPREAD_DEFAULT

    def control(name, share):
        texts = result.counts["fact texts" if name == "natural" else "planted prompts"]
        if (result.fact_control if name == "natural" else result.planted_control) is None:
            return {"passes": False, "n_prompts": texts, "reason": f"the model answers {texts} control texts that have "
                                                                   f"donors; the control needs {MIN_CONTROL_PROMPTS}"}
        return {"passes": verdict.controls[name][0], "answer_bearing_share": _interval(share), "n_prompts": texts}

    return {
        "removal": removal, "measure": measure, "k": settings.c5_k,
        "control": control("natural", verdict.controls["natural"][1]),
        "planted_control": control("planted", verdict.controls["planted"][1]),
        "n_texts": result.counts["passages"], "n_literal_texts": result.counts["literal passages"],
        "literal": {"word": verdict.literal.word, "shares": {s: _interval(v) for s, v in verdict.literal.shares.items()},
                    "minus": {f"{s} − {b}": _interval(v) for (s, b), v in verdict.paired.items()}},
        "concentration": {"word": verdict.bracket.word,
                          "oracle_cross_fitted_k1": _interval(verdict.bracket.shares["oracle (cross-fitted)"])},
        "oracle_naive_k1": _interval(verdict.bracket.shares["oracle (naive)"]),
    }


def part_c6(loaded, settings: Settings) -> dict:
    triples = make_triples(settings.c6_triples, seed=settings.seed)
    layer = loaded.n_layers
    layers = shown_layers(loaded, settings.c6_layers) if settings.c6_layers else [layer]  # chapter 7's, cached there
    values = measure_triples(loaded, triples, layers, batch_size=4 * batch_size_for(loaded, 32))  # short sentences
    return {"n_triples": len(triples), "layer": layer, "accuracy": {
        dist: {negative: _interval(triple_accuracy(values, triples, layer, dist, negative, n_boot=settings.n_boot,
                                                   seed=settings.seed))
               for negative in ("swap", "unrelated")} for dist in ALL_DISTANCES}}


PART_FUNCTIONS = {"feeding": part_feeding, "c1": part_c1, "c3": part_c3, "c4": part_c4, "c5": part_c5, "c6": part_c6}


# ------------------------------------------------------------------------------------------------ one card


def parse_parts(text: str | None) -> tuple[str, ...]:
    """``"c1,c3"`` → ``("c1", "c3")``; None → every part. One clear line for an unknown part."""
    if not text:
        return PARTS
    parts = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"unknown part(s) {', '.join(unknown) or text!r}; choose from {', '.join(PARTS)}")
    return parts


def _git_commit() -> str | None:
    """The checkout's commit; ``None`` for an installed copy (its folder may lie in someone else's repository)."""
    if not IN_CHECKOUT:
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _config_sha256(loaded) -> str:
    return hashlib.sha256(loaded.model.config.to_json_string(use_diff=False).encode()).hexdigest()


def make_card(model: str, parts=PARTS, settings: Settings = DEFAULT, device: str | None = None,
              dtype: str | None = None, device_map: str | None = None, progress: bool = True,
              cache_parts: bool = True) -> dict:
    """Measure ``parts`` of the card on ``model`` (anything :func:`llmgeom.models.loading.load` accepts).

    Returns the card as a JSON-ready dict (see ``card_schema.json``). Each part is cached (``cache_parts``); a part
    that does not apply to the model (an encoder's ``feeding``, ``c3``, ``c4``, ``c5``) is listed under
    ``"not_applicable"``. With the chapters' settings (:data:`FULL`) every part reads the chapters' cached results, so
    the cards page passes ``cache_parts=False`` and adds nothing to the cache.
    """
    torch_dtype = None
    if dtype is not None:
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(f"--dtype {dtype!r} is not a torch dtype; use float32, bfloat16, float16 or float64")
    started = time.perf_counter()
    loaded = load(model, attentions=True, device=device, dtype=torch_dtype, device_map=device_map)
    load_seconds = time.perf_counter() - started
    applicable = [p for p in parts if not loaded.is_encoder or p in ENCODER_PARTS]
    fingerprint = loaded.fingerprint
    card = {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "is_encoder": loaded.is_encoder,
        "provenance": {
            "model": model, "source": loaded.source, "config_sha256": _config_sha256(loaded),
            "weights_fingerprint": fingerprint, "llmgeom_version": __version__, "llmgeom_commit": _git_commit(),
            "corpus": settings.corpus, "seed": settings.seed, "settings": asdict(settings),
            "device": str(loaded.device), "dtype": str(next(loaded.model.parameters()).dtype),
            "device_map": device_map, "batch_size_c1": batch_size_for(loaded, settings.c1_tokens),
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "seconds": {"load": load_seconds},
        },
        "size": {"width": loaded.width, "non_embedding_params": non_embedding_parameters(loaded.model)},
        "parts": {},
        "not_applicable": {p: "an encoder has no next-token prediction" for p in parts if p not in applicable},
    }
    bar = tqdm(applicable, desc=f"card {model}", disable=not progress)
    for part in bar:
        bar.set_postfix_str(part)
        part_started = time.perf_counter()
        card["parts"][part] = cached_json(f"card-{part}", lambda: PART_FUNCTIONS[part](loaded, settings), cache_parts,
                                          model=fingerprint, settings=asdict(settings))
        card["provenance"]["seconds"][part] = time.perf_counter() - part_started
    card["provenance"]["seconds"]["total"] = time.perf_counter() - started
    return card


# ------------------------------------------------------------------------------------------------ families


def family_card(cards: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Chapter 2's size law across member cards (each with a ``c1`` part), computed by chapter 2's own code
    (:class:`llmgeom.experiments.family.SizeLaw` on the members' per-passage last-layer entropies): the exponents of
    ``H/ln d``, ``H`` and eRank against non-embedding parameters, trained and random initialisation, trained minus
    random, with intervals over passages, and the family's null exponent from the members' widths and parameters.

    Members must have read the same passages (the same tokenizer, corpus, length and seed): the bootstrap pairs
    passage ``i`` across members, and each card records a hash of its passages' token ids.
    """
    members = [c for c in cards if "c1" in c.get("parts", {})]
    if len(members) < 2:
        raise ValueError("a family card needs at least two member cards with a c1 part")
    if len({c["parts"]["c1"]["passages_sha256"] for c in members}) > 1:
        raise ValueError("the member cards read different passages (another tokenizer, corpus, length or seed); "
                         "a size law needs the same passages for every member")
    members.sort(key=lambda c: c["size"]["non_embedding_params"])
    params = [c["size"]["non_embedding_params"] for c in members]
    if len(set(params)) < len(params):
        raise ValueError("two member cards have the same non-embedding parameter count; a size law needs distinct sizes")
    corpus = members[0]["provenance"]["corpus"]
    family = Family(", ".join(c["model"] for c in members),
                    [[Member(c["model"], None, c["parts"]["c1"]["width"], c["size"]["non_embedding_params"])]
                     for c in members], has_logs=False)

    def entropies(key):
        return {(c["model"], corpus): LayerEntropy.from_arrays(
            (0,), np.array(c["parts"]["c1"]["per_passage"][key])[:, None],
            np.full(c["parts"]["c1"]["n_texts"], c["parts"]["c1"]["n_tokens"]), c["parts"]["c1"]["width"])
            for c in members}

    first = members[0]["parts"]["c1"]
    law = SizeLaw(family, first["n_tokens"], [corpus], entropies("H"), entropies("H_random"), n_boot, seed)
    fits = {}
    for metric in ("H/ln d", "H", "eRank"):
        f = law.fit(metric)
        fits[metric] = {
            "trained": {"b": f["trained"].fit.b, "low": f["trained"].b_low, "high": f["trained"].b_high,
                        "r2": f["trained"].fit.r2},
            "random_init": {"b": f["random"].fit.b, "low": f["random"].b_low, "high": f["random"].b_high},
            "trained_minus_random": _interval(f["difference"]),
        }
    return {"schema_version": SCHEMA_VERSION, "family": [c["model"] for c in members],
            "non_embedding_params": family.params.tolist(), "widths": family.widths.tolist(),
            "n_tokens": first["n_tokens"], "n_texts": first["n_texts"], "corpus": corpus,
            "capped_by_length": law.capped, "size_law": fits, "null_exponent": law.null_exponent, "members": members}


# ------------------------------------------------------------------------------------------------ reading cards


def validate(card: dict) -> None:
    """Raise ``ValueError`` (one line) if ``card`` does not follow ``card_schema.json``."""
    schema = json.loads(SCHEMA_PATH.read_text())
    if isinstance(card, dict) and "family" in card:  # a family card: its size law, and every member a card
        missing = [k for k in ("schema_version", "family", "size_law", "null_exponent", "members") if k not in card]
        if missing:
            raise ValueError(f"not a family card of schema {SCHEMA_VERSION}: missing {', '.join(missing)}")
        if not isinstance(card["members"], list) or not card["members"]:
            raise ValueError("not a family card: its members must be a non-empty list of cards")
        for member in card["members"]:
            validate(member)
        return
    try:
        jsonschema.validate(card, schema)
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "the top level"
        raise ValueError(f"not a card of schema {SCHEMA_VERSION}: {err.message} (at {where})") from None


def read_card(path) -> dict:
    """A card from a JSON file, validated; one clear line for a missing or malformed file."""
    try:
        card = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such card file") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err.msg}, line {err.lineno})") from None
    validate(card)
    return card


def with_settings(full: bool, corpus: str | None) -> Settings:
    """:data:`FULL` or :data:`DEFAULT`, with another corpus if given."""
    settings = FULL if full else DEFAULT
    return replace(settings, corpus=corpus) if corpus else settings
