"""Planted tasks: prompts whose answer is carried by a known context token (chapter 5's ground truth (b)).

Four tasks, generated from a seed:

* ``copy`` — a list of words, then its start again: the next word is the one after the repeated part;
* ``recall`` — key–value recall: "The code for apple is red. … The code for apple is" → " red";
* ``capital`` — "The capital of France is" → " Paris", after an unrelated sentence;
* ``ioi`` — indirect object: "When Mary and John went to the shop, John gave a book to" → " Mary".

The *answer-bearing* tokens are the earlier tokens that hold the answer (the listed word, the value, the country,
the name). A prompt counts for a model only where the model's top next token is the answer's first token; the
rest form a "model wrong" stratum.

In ``copy``, ``recall`` and ``ioi`` the answer *is* an earlier token, so a score that only looks at what the model
is about to write finds it trivially. Three more tasks, :data:`NON_IDENTITY_TASKS`, have answers that are not a
copy of any context token, each as a two-shot prompt whose demonstrations never contain the queried answer (a base
model needs the format; measured, Gemma-3-270M answers 2 of 40 zero-shot capital prompts):

* ``capital-2shot`` — "Italy's capital city is Rome. Spain's capital city is Madrid. France's capital city is"
  → " Paris" (44 countries); the answer-bearing token is the queried country;
* ``opposite`` — "The word hot is the opposite of cold. … The word early is the opposite of" → " late" (40 pairs);
* ``past`` — "Today they see, yesterday they saw. … Today they go, yesterday they" → " went" (40 irregular verbs).

Each task has template variants (:data:`TEMPLATES`) that put the answer-bearing word at different distances from
the query, and zero to :data:`MAX_FILLERS` unrelated clauses stand between the demonstrations and the query, so
neither recency nor a fixed position finds it. Every other prompt is *fresh*: its demonstrations use templates
without the query's last word, so that word (a Lasso on the query's state would match its copies) occurs only at
the end; the rest use the query's own template throughout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from llmgeom.data.feeding import text_encoding

TASKS = ("copy", "recall", "capital", "ioi")
NON_IDENTITY_TASKS = ("capital-2shot", "opposite", "past")
ALL_TASKS = TASKS + NON_IDENTITY_TASKS

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
MORE_CAPITALS = {
    "Hungary": "Budapest", "Finland": "Helsinki", "Denmark": "Copenhagen", "Belgium": "Brussels",
    "Turkey": "Ankara", "Iran": "Tehran", "Iraq": "Baghdad", "Thailand": "Bangkok", "Vietnam": "Hanoi",
    "Indonesia": "Jakarta", "Argentina": "Buenos Aires", "Chile": "Santiago", "Colombia": "Bogota",
    "Venezuela": "Caracas", "Nigeria": "Abuja", "Morocco": "Rabat", "Australia": "Canberra", "Romania": "Bucharest",
    "Switzerland": "Bern", "Scotland": "Edinburgh", "Wales": "Cardiff", "Syria": "Damascus", "Lebanon": "Beirut",
    "Pakistan": "Islamabad",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "high": "low", "long": "short", "rich": "poor",
    "strong": "weak", "early": "late", "full": "empty", "wet": "dry", "clean": "dirty", "thick": "thin",
    "loud": "quiet", "up": "down", "day": "night", "black": "white", "left": "right", "true": "false",
    "good": "bad", "love": "hate", "win": "lose", "buy": "sell", "push": "pull", "alive": "dead", "north": "south",
    "east": "west", "before": "after", "above": "below", "first": "last", "top": "bottom", "young": "old",
    "sweet": "sour", "deep": "shallow", "wide": "narrow", "cheap": "expensive", "war": "peace",
    "question": "answer", "always": "never", "sharp": "dull",
}
PAST = {
    "go": "went", "see": "saw", "eat": "ate", "take": "took", "give": "gave", "write": "wrote", "speak": "spoke",
    "drink": "drank", "sing": "sang", "swim": "swam", "fly": "flew", "buy": "bought", "think": "thought",
    "bring": "brought", "catch": "caught", "teach": "taught", "sell": "sold", "tell": "told", "find": "found",
    "hold": "held", "stand": "stood", "sit": "sat", "win": "won", "lose": "lost", "leave": "left", "feel": "felt",
    "keep": "kept", "sleep": "slept", "meet": "met", "pay": "paid", "make": "made", "come": "came", "know": "knew",
    "grow": "grew", "throw": "threw", "draw": "drew", "break": "broke", "choose": "chose", "drive": "drove",
    "ride": "rode",
}
FILLERS = ("We waited.", "The rain stopped.", "A dog barked.", "Time passed.", "She smiled.", "The door opened.",
           "The bell rang.", "Someone laughed.")
"""Short clauses that may stand between the demonstrations and the query (none holds a task's answer or key; short,
because chapter 5 erases every token of every prompt)."""
TEMPLATES = {
    "capital-2shot": ("{}'s capital city is {}", "The capital of {} is named {}", "{} has as its capital the city of {}",
                      "Capital of {}: {}"),
    "opposite": ("The word {} is the opposite of {}", "The antonym of {} is simply {}",
                 "If it is not {}, then it must be {}", "Not {} but {}"),
    "past": ("Today they {}, yesterday they {}", "They often {}, and yesterday she {}",
             "Each week they {}; last Monday we {}", "The past tense of {} is {}", "Present {}, past {}"),
}
"""Each non-identity task's template variants, ``template.format(key, answer)``. Their last words differ and the key
sits at a different distance from the end in each, so neither the query's last token nor a fixed distance finds
the answer-bearing word."""
MAX_FILLERS = 2


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


def _words(text: str) -> list[str]:
    """Lower-case words and punctuation marks, in order."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def _query_word(template: str) -> str:
    """The last word of a template's query, the word right before the answer (``is``, ``:``, ``they``…)."""
    return _words(template.rsplit("{}", 1)[0])[-1]


_FRESH_QUERIES = {task: tuple(t for t in templates if _words(t.rsplit("{}", 1)[0]).count(_query_word(t)) == 1)
                  for task, templates in TEMPLATES.items()}
"""The templates a fresh prompt may query with: their last word occurs once in their own query too ("Today they go,
yesterday they" repeats it)."""


def _two_shot(rng, table: dict[str, str], task: str, fresh: bool) -> PlantedPrompt:
    """Two demonstrations, 0–:data:`MAX_FILLERS` filler clauses, then the query.

    The demonstrations are other entries, so never the queried answer. The query's template is drawn from
    :data:`TEMPLATES`; with ``fresh`` the demonstrations use templates without the query's last word (so that word
    occurs only at the end), otherwise the query's own template."""
    keys, templates = list(table), TEMPLATES[task]
    query, *demos = (keys[i] for i in rng.choice(len(keys), 3, replace=False))
    asked = str(rng.choice(_FRESH_QUERIES[task] if fresh else templates))
    last = _query_word(asked)
    allowed = [t for t in templates if last not in _words(t.replace("{}", " "))] if fresh else [asked]
    shots = " ".join(str(rng.choice(allowed)).format(k, table[k]) + "." for k in demos)
    banned = {last, query.lower(), table[query].lower()}
    fillers = [f for f in FILLERS if banned.isdisjoint(_words(f))]
    chosen = [fillers[i] for i in rng.choice(len(fillers), int(rng.integers(0, MAX_FILLERS + 1)), replace=False)]
    prefix = " ".join([shots, *chosen])
    text = f"{prefix} {asked.format(query, '').rstrip()}"
    return PlantedPrompt(task, text, " " + table[query], (_span(text, query, len(prefix)),))


def _capital_two_shot(rng, fresh: bool) -> PlantedPrompt:
    return _two_shot(rng, CAPITALS | MORE_CAPITALS, "capital-2shot", fresh)


def _opposite(rng, fresh: bool) -> PlantedPrompt:
    return _two_shot(rng, OPPOSITES, "opposite", fresh)


def _past(rng, fresh: bool) -> PlantedPrompt:
    return _two_shot(rng, PAST, "past", fresh)


_MAKERS = {"copy": _copy, "recall": _recall, "capital": _capital, "ioi": _ioi,
           "capital-2shot": _capital_two_shot, "opposite": _opposite, "past": _past}


def generate_planted(task: str, n: int, seed: int = 0) -> list[PlantedPrompt]:
    """``n`` prompts of one task, the same for the same seed."""
    if task not in _MAKERS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(ALL_TASKS)}")
    rng = np.random.default_rng([seed, ALL_TASKS.index(task)])
    if task in NON_IDENTITY_TASKS:  # every other prompt keeps the query's last word out of its context
        return [_MAKERS[task](rng, fresh=i % 2 == 0) for i in range(n)]
    return [_MAKERS[task](rng) for _ in range(n)]


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt for one tokenizer: ``ids`` ``[n]``, the answer's first token, which tokens bear it, and every token
    of the answer (``answer_ids[0] == answer_id``; chapter 6 measures the loss over all of them)."""

    prompt: PlantedPrompt
    ids: list[int]
    answer_id: int
    answer_bearing: np.ndarray  # bool [n]
    answer_ids: tuple[int, ...] = ()

    @property
    def query_repeated(self) -> bool:
        """Whether the query's last token also occurs earlier in the prompt (a Lasso on the query's state can match
        that copy instead of reading the answer-bearing word)."""
        return self.ids[-1] in self.ids[:-1]

    @property
    def distance(self) -> int:
        """Tokens from the last answer-bearing token to the query's last token (1: right before it)."""
        return len(self.ids) - 1 - int(np.flatnonzero(self.answer_bearing).max())

    @property
    def answer_in_context(self) -> bool:
        """Whether the answer's first token already occurs in the prompt (an identity task, for this tokenizer)."""
        return self.answer_id in self.ids


def encode_planted(prompt: PlantedPrompt, tokenizer) -> EncodedPrompt:
    """Tokenise a prompt's text (:func:`llmgeom.data.feeding.text_encoding`; the model's BOS is added where it runs)
    and mark the answer-bearing tokens from their character spans."""
    ids, offsets = text_encoding(tokenizer, prompt.text, offsets=True)
    full = text_encoding(tokenizer, prompt.text + prompt.answer)
    if full[: len(ids)] != ids or len(full) == len(ids):
        # the answer merged with the prompt's last token: fall back to tokenising the answer alone
        full = ids + text_encoding(tokenizer, prompt.answer)
    bearing = np.array([any(s < b and a < e for a, b in prompt.spans) for s, e in offsets], dtype=bool)
    if not bearing.any():
        raise ValueError(f"no token covers the answer-bearing span of {prompt.text!r}")
    return EncodedPrompt(prompt, ids, int(full[len(ids)]), bearing, tuple(int(i) for i in full[len(ids):]))
