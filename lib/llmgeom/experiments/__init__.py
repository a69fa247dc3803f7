"""Layer ``experiments``: each chapter's protocol and verdict: sample sizes (``settings``), chapter 2's size laws
(``scaling``, ``family``), chapter 3's predictions (``prediction``), chapter 4's gains (``gains``), chapter 5's
token selection (``selectors``, ``selection``, ``tokenselect``), chapter 6's spread (``spread``), chapter 7's role
swaps (``roleswap``), reproduction cards (``card``).

Rule: imports any lower layer and this one, never ``publish`` or the CLI; returns numbers and words, never text
for a page.
"""
