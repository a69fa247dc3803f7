"""Layer ``publish``: numbers into and out of the prose (``glue``, ``glued``), figures (``plotting``), cards as
Markdown (``cards``), chapters 5 and 6's tables (``tables``), the site's configuration (``siteconfig``),
JupyterLab (``lab``).

Rule: computes nothing; a leaf that no other layer imports (only the CLI and the notebooks).
"""
