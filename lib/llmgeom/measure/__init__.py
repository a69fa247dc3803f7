"""Layer ``measure``: model × token ids → arrays, cached: hidden states and streamed entropies (``extract``), erasure
effects (``erasure``), attribution scores (``attribution``), next-token loss (``loss``).

Rule: imports only lower layers (``store``, ``core``, ``data``, ``models``) and this one; holds no chapter's protocol
or verdict.
"""
