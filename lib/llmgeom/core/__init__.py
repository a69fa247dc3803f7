"""Layer ``core``: arrays in, numbers out: matrix entropy (``entropy``, chapter 1), Gaussian theory (``gaussian``,
``synthetic``, chapter 3), information gain (``ridge``, chapter 4), Lasso (``lasso``, chapter 5), sentence geometry
(``geometry``, chapter 7), fits and intervals (``fit``), tests and verdict words (``stats``), ranking metrics
(``metrics``).

Rule: no model, no tokenizer, no file; imports nothing of ``llmgeom`` outside this layer.
"""
