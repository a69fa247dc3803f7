"""llmgeom: the library behind the executable companion to *The Information of Large Language Model Geometry*.

One folder per layer, lowest first; a module imports from its own layer or a lower one, never a higher one, and no
import circles (``tests/test_layers.py``). Each layer's ``__init__`` states its rule; each module holds one concept,
and its docstring names the chapter that derives it.

===============  ==================================================================================================
``store``        bytes on disk: ``paths`` (the one repository root), ``cache`` (checksummed results), ``fetch``
``core``         arrays in, numbers out: ``entropy`` (chapter 1), ``gaussian`` and ``synthetic`` (chapter 3),
                 ``ridge`` (chapter 4), ``lasso`` (chapter 5), ``geometry`` (chapter 7), ``fit``, ``stats``,
                 ``metrics``
``data``         texts and their ids, given a tokenizer: ``feeding``, ``corpora``, ``planted``, ``sentences``
``models``       a loaded model: ``ladder`` and ``training``, ``registry``, ``builtin``, ``loading``, ``forward``
``measure``      model × ids → arrays, cached: ``extract``, ``erasure``, ``attribution``, ``loss``
``experiments``  each chapter's protocol and verdict: ``settings``, ``scaling`` and ``family`` (chapter 2),
                 ``prediction`` (3), ``gains`` (4), ``selectors``, ``selection`` and ``tokenselect`` (5),
                 ``spread`` (6), ``roleswap`` (7), ``card`` (all of them)
``publish``      computes nothing: ``glue`` and ``glued`` (numbers into and out of the prose), ``plotting``,
                 ``cards`` and ``tables`` (Markdown), ``siteconfig``, ``lab``
===============  ==================================================================================================

``cli`` (``python -m llmgeom``) sits above them all.
"""

__version__ = "0.1.0"
