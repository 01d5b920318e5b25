"""Local infrastructure for development, tests and demos (`make up` / `make down`).

Each piece is used when it already answers at its configured address and started otherwise; what
this module starts is recorded in ``data/run/stack.json`` so that ``down`` stops exactly that and
nothing else. The resolved addresses go to ``data/run/stack.env``, which every service reads.
"""
