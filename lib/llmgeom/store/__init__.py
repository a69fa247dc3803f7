"""Layer ``store``: bytes on disk: the one repository root (``paths``), the checksummed cache (``cache``), downloads
(``fetch``).

Rule: imports no other layer of ``llmgeom``; knows files, never arrays of a model or a text.
"""
