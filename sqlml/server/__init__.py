"""``sqlml serve``: PostgreSQL's frontend/backend protocol (v3) over a DuckDB database.

The protocol layer (``wire``, ``protocol``, ``encoding``, ``auth``, ``listener``) knows
messages, not SQL; ``engine`` runs what arrives through a sqlml connection, with
``pg_compat`` giving DuckDB what PostgreSQL's clients ask its catalog for.
"""
