"""llmgeom: the library behind the executable companion to *The Information of Large Language Model Geometry*.

Each module holds one concept; its docstrings point to the chapter that derives it.

==================  ===========================================================================================
measure             ``entropy`` (matrix entropy, chapter 1), ``gaussian`` and ``synthetic`` (chapter 3),
                    ``ridge`` (information gain, chapter 4), ``lasso`` (chapter 5), ``geometry`` (chapter 7)
read models         ``builtin`` (the PyPI models), ``registry`` (the committed ladder and its logs), ``models``
                    (``load`` anything), ``feeding`` (what a model reads first), ``forward`` (the one forward
                    pass), ``extract`` (hidden states, streamed entropies)
experiments         ``scaling`` and ``family`` (chapter 2), ``prediction`` (chapter 3), ``selection``,
                    ``metrics``, ``planted``, ``erasure``, ``attribution`` and ``tokenselect`` (chapter 5),
                    ``spread`` (chapter 6), ``sentences`` and ``roleswap`` (chapter 7), ``card`` (all of them)
statistics          ``fit`` (power laws, bootstraps, the one interval), ``stats`` (tests, Holm, verdict words)
around them         ``cache``, ``fetch``, ``corpora``, ``ladder`` (training), ``glue`` and ``glued`` (numbers into
                    and out of the prose), ``plotting``, ``cli``, ``lab``, ``siteconfig``
==================  ===========================================================================================
"""

__version__ = "0.1.0"
