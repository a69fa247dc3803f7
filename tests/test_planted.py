"""The non-identity planted tasks: two-shot prompts whose demonstrations never show the queried answer, whose
answer-bearing word sits at many distances from the query, and half of which never repeat the query's last token."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from llmgeom.data.planted import (CAPITALS, FILLERS, MAX_FILLERS, MORE_CAPITALS, NON_IDENTITY_TASKS, OPPOSITES, PAST,
                                  TEMPLATES, encode_planted, generate_planted)

N_PROMPTS = 200


def test_each_task_has_at_least_forty_distinct_items_and_three_templates():
    assert len(CAPITALS | MORE_CAPITALS) >= 40 and len(OPPOSITES) >= 40 and len(PAST) >= 40
    assert len(set((CAPITALS | MORE_CAPITALS).values())) == len(CAPITALS | MORE_CAPITALS)
    assert all(len(TEMPLATES[task]) >= 3 for task in NON_IDENTITY_TASKS)


def _query_template(task, prompt):
    """The template whose query the prompt ends with (the longest match, as one template's query can end another's)."""
    matches = [t for t in TEMPLATES[task] if re.search(re.escape(t.rsplit("{}", 1)[0].rstrip()).replace(r"\{\}", r"[\w ]+") + "$",
                                                        prompt.text)]
    assert matches, prompt.text
    return max(matches, key=len)


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from llmgeom.models.loading import load

    return load("smollm2-135m").tokenizer


@pytest.mark.parametrize("task", NON_IDENTITY_TASKS)
def test_planted_prompts_have_no_positional_leak_and_never_show_the_answer(task, smollm2_tokenizer, tiny_model_dir):
    from transformers import AutoTokenizer

    prompts = generate_planted(task, N_PROMPTS, seed=0)
    assert prompts == generate_planted(task, N_PROMPTS, seed=0)
    assert len({p.text for p in prompts}) > 150  # many distinct prompts, not a handful repeated
    templates, fillers = Counter(), Counter()
    for prompt in prompts:
        (start, end), = prompt.spans
        before = prompt.text[:start]
        # the demonstrations and fillers never contain the queried answer; the answer-bearing word is the query's key
        assert not re.search(rf"\b{re.escape(prompt.answer.strip())}\b", before)
        assert before.count(". ") >= 2 and ". " not in prompt.text[start:]
        templates[_query_template(task, prompt)] += 1
        fillers[sum(f in prompt.text for f in FILLERS)] += 1
    assert len(templates) >= 3
    assert set(fillers) == set(range(MAX_FILLERS + 1))
    for tokenizer in (smollm2_tokenizer, AutoTokenizer.from_pretrained(tiny_model_dir)):
        encoded = [encode_planted(p, tokenizer) for p in prompts]
        assert all(e.answer_bearing.any() and not e.answer_bearing[0] for e in encoded)
        assert len({e.distance for e in encoded}) >= 4
    # on the real tokenizer, at least half the prompts never show the query's last token before the end
    fresh = [not encode_planted(p, smollm2_tokenizer).query_repeated for p in prompts]
    assert sum(fresh) >= N_PROMPTS / 2


def test_a_fresh_prompt_holds_its_query_word_only_at_the_end():
    prompts = generate_planted("opposite", 20, seed=3)
    for prompt in prompts[::2]:
        last = re.findall(r"\w+|[^\w\s]", prompt.text)[-1].lower()
        assert re.findall(r"\w+|[^\w\s]", prompt.text.lower()).count(last) == 1, prompt.text
    # the others repeat their template, query word included
    assert all(re.findall(r"\w+|[^\w\s]", p.text.lower()).count(re.findall(r"\w+|[^\w\s]", p.text)[-1].lower()) > 1
               for p in prompts[1::2])
