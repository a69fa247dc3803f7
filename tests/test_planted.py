"""The non-identity planted tasks: two-shot prompts whose demonstrations never show the queried answer."""

from __future__ import annotations

import re

import pytest

from llmgeom.data.planted import CAPITALS, MORE_CAPITALS, NON_IDENTITY_TASKS, OPPOSITES, PAST, encode_planted, generate_planted


def test_each_task_has_at_least_forty_distinct_items():
    assert len(CAPITALS | MORE_CAPITALS) >= 40 and len(OPPOSITES) >= 40 and len(PAST) >= 40
    assert len(set((CAPITALS | MORE_CAPITALS).values())) == len(CAPITALS | MORE_CAPITALS)


@pytest.mark.parametrize("task", NON_IDENTITY_TASKS)
def test_two_shot_prompts_never_show_the_queried_answer_and_mark_the_query(task, tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = generate_planted(task, 200, seed=0)
    assert prompts == generate_planted(task, 200, seed=0)
    for prompt in prompts:
        *demos, query = prompt.text.split(". ")
        assert len(demos) == 2
        assert not re.search(rf"\b{re.escape(prompt.answer.strip())}\b", ". ".join(demos))
        (start, end), = prompt.spans
        assert start > len(". ".join(demos)) and prompt.text[start:end] in query
        encoded = encode_planted(prompt, tokenizer)
        assert encoded.answer_bearing.any() and not encoded.answer_bearing[0]
    assert len({p.text for p in prompts}) > 150  # many distinct prompts, not a handful repeated
