"""llmgeom: the library behind the executable companion to *The Information of Large Language Model Geometry*.

Each module holds one concept; its docstrings point to the chapter that derives it.
"""

__version__ = "0.1.0"
