"""Where a node stands in a statement: the WITH clauses it can see, the FROM it fills."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

if TYPE_CHECKING:
    from sqlml.session import Session


def ctes_around(node: exp.Expr) -> list[exp.CTE]:
    """The CTEs visible from ``node`` (its own WITH included), outer WITHs first (an inner
    one may read an outer). From inside a CTE, only the ones before it are visible."""
    ctes: list[exp.CTE] = []
    child: exp.Expr | None = None
    ancestor: exp.Expr | None = node
    while ancestor is not None:
        with_ = ancestor.args.get("with_")
        if isinstance(with_, exp.With):
            visible = list(with_.expressions)
            inside = [i for i, cte in enumerate(visible) if cte is child]
            ctes = [*(visible[: inside[0]] if inside else visible), *ctes]
        if isinstance(ancestor, exp.CTE):
            child = ancestor
        ancestor = ancestor.parent
    return ctes


def in_scope(query: exp.Query, node: exp.Expr) -> exp.Query:
    """A copy of ``query`` with the CTEs visible from ``node``, so that it runs on its own."""
    scoped = query.copy()
    for cte in ctes_around(node):
        scoped = scoped.with_(cte.alias, as_=cte.this.copy(), copy=False)
    return scoped


def describe_in_scope(session: Session, query: exp.Query, node: exp.Expr) -> dict[str, str]:
    """The columns (name → engine type) of a query found inside a statement at ``node``,
    which may read the statement's CTEs."""
    return dict(session.describe(in_scope(query, node)))


def replace_in_from(node: exp.Expr, query: exp.Query, name: str) -> None:
    """Put ``query`` where a table function (``node``) stands in a FROM, as a subquery under
    the call's alias, or ``name``."""
    holder = node.parent if isinstance(node.parent, exp.Table) else node
    alias = holder.args.get("alias") if isinstance(holder, exp.Table) else None
    if alias is None or not alias.name:  # no alias, or one naming only columns
        alias = exp.TableAlias(
            this=exp.to_identifier(name), columns=alias.columns if alias is not None else None
        )
    holder.replace(exp.Subquery(this=query, alias=alias))
