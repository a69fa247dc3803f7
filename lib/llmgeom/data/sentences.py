"""Sentence triples whose meaning relations are known by construction (chapter 7, claim C6).

Each :class:`Triple` holds an *anchor*, a *paraphrase* (same meaning) made by one of two transformations, and a
*role swap* (different meaning, exactly the same words): agent and patient exchange places. Every triple also
gets an *unrelated* sentence (an easy negative): the anchor of another triple with other people and another verb.

* ``synonym``: the verb is replaced by a synonym — "The dog chased the cat …" / "The dog pursued the cat …";
* ``passive``: active to passive voice — "The cat was chased by the dog …";
* the negative is always the role swap — "The cat chased the dog …".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

NOUNS = [
    "dog", "cat", "teacher", "doctor", "farmer", "child", "soldier", "artist", "sailor", "baker",
    "lawyer", "nurse", "king", "queen", "student", "pilot", "driver", "singer", "boxer", "judge",
]
# verb: (past, past participle, synonym in the past tense)
VERBS = {
    "chase": ("chased", "chased", "pursued"),
    "help": ("helped", "helped", "assisted"),
    "follow": ("followed", "followed", "trailed"),
    "push": ("pushed", "pushed", "shoved"),
    "watch": ("watched", "watched", "observed"),
    "praise": ("praised", "praised", "commended"),
    "hit": ("hit", "hit", "struck"),
    "warn": ("warned", "warned", "cautioned"),
    "blame": ("blamed", "blamed", "accused"),
    "greet": ("greeted", "greeted", "welcomed"),
    "carry": ("carried", "carried", "lifted"),
    "photograph": ("photographed", "photographed", "filmed"),
}
PLACES = ["in the garden", "near the station", "at the market", "on the bridge", "in the kitchen",
          "by the river", "outside the school", "in the old house"]
TRANSFORMS = ("synonym", "passive")


@dataclass(frozen=True)
class Triple:
    """Anchor, paraphrase (same meaning), role swap (same words, different meaning), unrelated sentence."""

    anchor: str
    paraphrase: str
    swap: str
    unrelated: str
    transform: str  # "synonym" or "passive"
    agent: str
    patient: str
    verb: str


def _sentence(agent, patient, verb_form, place):
    return f"The {agent} {verb_form} the {patient} {place}."


def make_triples(n: int = 320, seed: int = 0) -> list[Triple]:
    """``n`` distinct triples, half synonym swaps and half passives, drawn with ``seed``.

    Raises
    ------
    ValueError
        If ``n`` exceeds the number of distinct (agent, patient, verb, place) combinations.
    """
    combos = list(itertools.product(itertools.permutations(NOUNS, 2), VERBS, PLACES))
    if not 1 <= n <= len(combos):
        raise ValueError(f"n must be between 1 and {len(combos)}; got {n}")
    rng = np.random.default_rng(seed)
    chosen = [combos[i] for i in rng.choice(len(combos), size=n, replace=False)]
    anchors = [_sentence(a, p, VERBS[v][0], place) for (a, p), v, place in chosen]
    triples = []
    for i, ((agent, patient), verb, place) in enumerate(chosen):
        past, participle, synonym = VERBS[verb]
        transform = TRANSFORMS[i % 2]
        if transform == "synonym":
            paraphrase = _sentence(agent, patient, synonym, place)
        else:
            paraphrase = f"The {patient} was {participle} by the {agent} {place}."
        unrelated = [j for j, ((a2, p2), v2, _) in enumerate(chosen) if {a2, p2}.isdisjoint({agent, patient}) and v2 != verb]
        if not unrelated:
            raise ValueError(f"n = {n} is too small to find an unrelated sentence for every triple")
        other = unrelated[int(rng.integers(0, len(unrelated)))]
        triples.append(Triple(
            anchor=anchors[i], paraphrase=paraphrase, swap=_sentence(patient, agent, past, place),
            unrelated=anchors[other], transform=transform, agent=agent, patient=patient, verb=verb,
        ))
    return triples
