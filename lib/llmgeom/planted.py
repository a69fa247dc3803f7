"""Planted tasks: prompts whose answer is carried by a known context token (chapter 5's ground truth (b)).

Four tasks, generated from a seed:

* ``copy`` — a list of words, then its start again: the next word is the one after the repeated part;
* ``recall`` — key–value recall: "The code for apple is red. … The code for apple is" → " red";
* ``capital`` — "The capital of France is" → " Paris", after an unrelated sentence;
* ``ioi`` — indirect object: "When Mary and John went to the shop, John gave a book to" → " Mary".

The *answer-bearing* tokens are the earlier tokens that hold the answer (the listed word, the value, the country,
the name). A prompt counts for a model only where the model's top next token is the answer's first token; the
rest form a "model wrong" stratum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TASKS = ("copy", "recall", "capital", "ioi")

NOUNS = ("apple river stone cloud horse table garden window candle bridge forest mirror letter basket castle "
         "dragon pencil rabbit silver summer winter thunder anchor butter carpet doctor engine farmer island "
         "jacket kitten ladder monkey needle lemon pepper rocket saddle tunnel violin wagon").split()
COLOURS = "red blue green black white brown yellow purple orange grey".split()
NAMES = ("Mary John Anna Peter Sarah James Emma David Laura Thomas Alice Robert Kate Daniel Helen Mark").split()
PLACES = ("shop park station market library garden school river").split()
OBJECTS = ("book drink letter ball flower key ring coat").split()
CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
    "Russia": "Moscow", "Egypt": "Cairo", "China": "Beijing", "England": "London", "Greece": "Athens",
    "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima", "Poland": "Warsaw", "Norway": "Oslo",
    "Sweden": "Stockholm", "Ireland": "Dublin", "Portugal": "Lisbon", "Austria": "Vienna", "Cuba": "Havana",
}
FILLERS = (
    "We talked for a while about the weather.", "The train was late again this morning.",
    "She opened the window and looked outside.", "It had been raining since the early hours.",
    "He finished his coffee and picked up the paper.", "The children were playing in the yard.",
)


@dataclass(frozen=True)
class PlantedPrompt:
    """A prompt, its answer (with its leading space) and the character spans of the answer-bearing words."""

    task: str
    text: str
    answer: str
    spans: tuple[tuple[int, int], ...]


def _span(text: str, word: str, start: int = 0) -> tuple[int, int]:
    at = text.index(word, start)
    return at, at + len(word)


def _copy(rng) -> PlantedPrompt:
    words = list(rng.choice(NOUNS, 7, replace=False))
    cut = int(rng.integers(2, 5))
    head = "Words: " + ", ".join(words) + "."
    text = head + " Again: " + ", ".join(words[:cut]) + ","
    return PlantedPrompt("copy", text, " " + words[cut], (_span(head, words[cut]),))


def _recall(rng) -> PlantedPrompt:
    keys = list(rng.choice(NOUNS, 4, replace=False))
    values = [str(v) for v in rng.choice(COLOURS, 4, replace=False)]
    facts = " ".join(f"The code for {k} is {v}." for k, v in zip(keys, values))
    asked = int(rng.integers(0, 4))
    text = f"{facts} The code for {keys[asked]} is"
    statement = facts.index(f"The code for {keys[asked]} is")
    value_at = statement + len(f"The code for {keys[asked]} is ")
    return PlantedPrompt("recall", text, " " + values[asked], ((value_at, value_at + len(values[asked])),))


def _capital(rng) -> PlantedPrompt:
    country = str(rng.choice(list(CAPITALS)))
    filler = str(rng.choice(FILLERS))
    text = f"{filler} The capital of {country} is"
    return PlantedPrompt("capital", text, " " + CAPITALS[country], (_span(text, country, len(filler)),))


def _ioi(rng) -> PlantedPrompt:
    first, second = (str(n) for n in rng.choice(NAMES, 2, replace=False))
    place, thing = str(rng.choice(PLACES)), str(rng.choice(OBJECTS))
    text = f"When {first} and {second} went to the {place}, {second} gave a {thing} to"
    return PlantedPrompt("ioi", text, " " + first, (_span(text, first),))


_MAKERS = {"copy": _copy, "recall": _recall, "capital": _capital, "ioi": _ioi}


def generate_planted(task: str, n: int, seed: int = 0) -> list[PlantedPrompt]:
    """``n`` prompts of one task, the same for the same seed."""
    if task not in _MAKERS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    rng = np.random.default_rng([seed, TASKS.index(task)])
    return [_MAKERS[task](rng) for _ in range(n)]


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt for one tokenizer: ``ids`` ``[n]``, the answer's first token, and which tokens bear it."""

    prompt: PlantedPrompt
    ids: list[int]
    answer_id: int
    answer_bearing: np.ndarray  # bool [n]


def encode_planted(prompt: PlantedPrompt, tokenizer) -> EncodedPrompt:
    """Tokenise a prompt's text (:func:`llmgeom.feeding.text_encoding`; the model's BOS is added where it runs)
    and mark the answer-bearing tokens from their character spans."""
    from llmgeom.feeding import text_encoding

    ids, offsets = text_encoding(tokenizer, prompt.text, offsets=True)
    full = text_encoding(tokenizer, prompt.text + prompt.answer)
    if full[: len(ids)] != ids or len(full) == len(ids):
        # the answer merged with the prompt's last token: fall back to tokenising the answer alone
        full = ids + text_encoding(tokenizer, prompt.answer)
    bearing = np.array([any(s < b and a < e for a, b in prompt.spans) for s, e in offsets], dtype=bool)
    if not bearing.any():
        raise ValueError(f"no token covers the answer-bearing span of {prompt.text!r}")
    return EncodedPrompt(prompt, ids, int(full[len(ids)]), bearing)
