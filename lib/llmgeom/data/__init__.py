"""Layer ``data``: texts and their token ids, given a tokenizer: what a model reads first (``feeding``), the corpora
(``corpora``), planted prompts (``planted``, chapter 5), sentence triples (``sentences``, chapter 7).

Rule: never runs a model; imports only ``store`` (and this layer).
"""
