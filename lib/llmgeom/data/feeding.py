"""How every model is fed: its tokenizer's own special tokens in the input, never in a statistic.

Used by every chapter; the convention is stated in :mod:`llmgeom.measure.extract`. In short:

* a **causal LM** reads ``prefix + text ids``, where the prefix is what its tokenizer prepends by default — the
  BOS of Gemma, Llama or Mistral, nothing for SmolLM2, Pythia and the ladder — and never an appended EOS (it would
  become the query token). A passage of ``N`` tokens means ``N`` *text* tokens; every state, attention row,
  erasure and loss the library reports is over text tokens only.
* an **encoder** reads ``[CLS] text [SEP]`` (what it was trained on); its special tokens are part of its
  sentence embedding (mean pooling, as sentence-transformers does).

:func:`text_encoding` is the one place text becomes ids; :func:`prefix_ids` the one place the prefix is decided;
:func:`llmgeom.measure.loss.next_token_loss` checks the result (``python -m llmgeom loss``).
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

_PROBE = "The quick brown fox"


def special_tokens(tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(before, after)``: the ids the tokenizer puts around a text by default (``[CLS]``/``[SEP]``, a BOS, …).

    Found by tokenising a probe text with and without special tokens, so it follows each tokenizer's own
    ``add_special_tokens`` behaviour rather than a guess from its ``bos_token``.
    """
    plain = tokenizer(_PROBE, add_special_tokens=False, verbose=False)["input_ids"]
    special = tokenizer(_PROBE, add_special_tokens=True, verbose=False)["input_ids"]
    for start in range(len(special) - len(plain) + 1):
        if special[start : start + len(plain)] == plain:
            return tuple(map(int, special[:start])), tuple(map(int, special[start + len(plain) :]))
    raise ValueError("cannot find the text inside the tokenizer's own encoding of it; feed this model by hand")


def prefix_ids(tokenizer, is_encoder: bool = False) -> tuple[int, ...]:
    """What a causal LM reads before every text: the ids its tokenizer prepends (e.g. ``(bos_id,)``), else ``()``.

    Anything appended after the text (an EOS) is left out on purpose: it would become the query token. An
    encoder has no prefix in this sense — it reads its whole wrapping (:func:`wrap_for_encoder`).
    """
    return () if is_encoder else special_tokens(tokenizer)[0]


def wrap_for_encoder(tokenizer, ids: Sequence[int]) -> list[int]:
    """``[CLS] ids [SEP]`` (or whatever the encoder's tokenizer puts around a text)."""
    before, after = special_tokens(tokenizer)
    return [*before, *map(int, ids), *after]


def text_encoding(tokenizer, text: str, offsets: bool = False):
    """The ids of ``text`` alone (no special tokens) — and with ``offsets=True`` also ``[(start, end)]`` per token.

    Returns ``ids`` or ``(ids, offsets)``. The model's prefix is added where the model runs
    (:func:`model_input`), so positions here are *text* positions. Ids alone are encoded once per process and
    tokenizer (chapter 2 asks for the same passages' ids for every model of a family); the result is a new list.
    """
    key = tokenizer_key(tokenizer) if not offsets else None
    if key is None:
        return _encode(tokenizer, text, offsets)
    return list(_ENCODED(key, text, tokenizer))


def _encode(tokenizer, text: str, offsets: bool):
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=offsets, verbose=False)
    ids = [int(i) for i in encoded["input_ids"]]
    return (ids, [tuple(o) for o in encoded["offset_mapping"]]) if offsets else ids


class _EncodingMemo:
    """The last few thousand texts' ids, keyed on the tokenizer's content and the text."""

    def __init__(self, size: int = 2048):
        self.size, self.entries = size, OrderedDict()

    def __call__(self, key, text, tokenizer) -> tuple[int, ...]:
        if (key, text) in self.entries:
            self.entries.move_to_end((key, text))
            return self.entries[key, text]
        ids = self.entries[key, text] = tuple(_encode(tokenizer, text, False))
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return ids


_ENCODED = _EncodingMemo()
_TOKENIZER_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_key(tokenizer) -> str | None:
    """A hash of a fast tokenizer's whole definition (vocabulary, merges, normalisation), once per object; ``None``
    for a tokenizer that cannot be serialised (its encodings and passages are then never reused)."""
    try:
        return _TOKENIZER_KEYS[tokenizer]
    except (KeyError, TypeError):
        pass
    try:
        key = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()
        _TOKENIZER_KEYS[tokenizer] = key
    except (AttributeError, TypeError):
        return None
    return key


def model_input(prefix: Sequence[int], ids: Sequence[int], keep=None):
    """``prefix + ids`` — and, given a text keep-mask ``[..., n]``, the same mask with the prefix always kept."""
    full = [*map(int, prefix), *map(int, ids)]
    if keep is None:
        return full
    keep = np.asarray(keep, dtype=bool)
    head = np.ones((*keep.shape[:-1], len(prefix)), dtype=bool)
    return full, np.concatenate([head, keep], axis=-1)
