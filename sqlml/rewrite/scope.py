"""What a node inside a statement can see: the WITH clauses around it."""

from __future__ import annotations

from sqlglot import exp


def ctes_around(node: exp.Expr) -> list[exp.CTE]:
    """The CTEs visible from ``node`` (its own WITH included), outer WITHs first (an inner
    one may read an outer)."""
    ctes: list[exp.CTE] = []
    ancestor: exp.Expr | None = node
    while ancestor is not None:
        with_ = ancestor.args.get("with_")
        if isinstance(with_, exp.With):
            ctes = [*with_.expressions, *ctes]
        ancestor = ancestor.parent
    return ctes


def in_scope(query: exp.Query, node: exp.Expr) -> exp.Query:
    """A copy of ``query`` with the CTEs visible from ``node``, so that it runs on its own."""
    scoped = query.copy()
    for cte in ctes_around(node):
        scoped = scoped.with_(cte.alias, as_=cte.this.copy(), copy=False)
    return scoped
