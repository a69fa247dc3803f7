"""Layer ``models``: a loaded model: the ladder's definition (``ladder``) and training script (``training``), the
committed ladder (``registry``), the PyPI models (``builtin``), ``load`` anything (``loading``), the one forward
pass (``forward``).

Rule: imports only ``store``, ``core`` and ``data`` (and this layer); returns model outputs, never a measurement.
"""
