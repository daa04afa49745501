"""Which SELECTs the batch PREDICT path can score, and the one reshaping that lets more do so.

A SELECT qualifies when it reads one source (a table or a subquery, not a table function)
with no joins, LATERALs or FETCH, and has no LIMIT or OFFSET unless every row must be scored
before it applies anyway (the rows are grouped, or ordered by PREDICT and not filtered by
it). ``limit_inside`` moves a LIMIT that does not depend on PREDICT into a subquery around
the source, so that the rows it keeps are picked first and scored in chunks. What a WHERE
or ORDER BY reads of PREDICT decides both.
"""

from __future__ import annotations

from sqlglot import exp

from sqlml.dialects import expressions as ml


def eligible(select: exp.Select) -> bool:
    """Whether the batch path can score the SELECT's own PREDICT calls."""
    source = select.args.get("from_")
    return (
        source is not None
        and isinstance(source.this, (exp.Table, exp.Subquery))
        and not (isinstance(source.this, exp.Table) and isinstance(source.this.this, exp.Func))
        and not select.args.get("joins")
        and not select.args.get("laterals")
        and (not (select.args.get("limit") or select.args.get("offset")) or _scores_all(select))
        and not select.args.get("fetch")
    )


def _aggregates(select: exp.Select) -> bool:
    """Whether the SELECT groups its rows: then it reads all of them, whatever its LIMIT."""
    return bool(select.args.get("group")) or any(
        e.find(exp.AggFunc) and not e.find(exp.Window) for e in select.expressions
    )


def _scores_all(select: exp.Select) -> bool:
    """Whether every row must be scored before a LIMIT applies: the rows are grouped, or
    ordered by what PREDICT answers (and not filtered by it: the per-row function may then
    stop early)."""
    if _reads_prediction(select.args.get("where"), select):
        return False
    return _aggregates(select) or _reads_prediction(select.args.get("order"), select)


def _reads_prediction(clause: exp.Expr | None, select: exp.Select) -> bool:
    """Whether a WHERE or ORDER BY reads a PREDICT: a call, or the name or position of a
    select-list item that has one."""
    if clause is None:
        return False
    return bool(clause.find(ml.MLPredict)) or any(
        item.find(ml.MLPredict) for item in _items_named(clause, select)
    )


def _items_named(clause: exp.Expr, select: exp.Select) -> list[exp.Expr]:
    """The select-list items a clause names by alias (ORDER BY p) or position (ORDER BY 2)."""
    names = {c.name for c in clause.find_all(exp.Column) if not c.table}
    positions = {
        int(o.this.name)
        for o in (clause.expressions if isinstance(clause, exp.Order) else [])
        if isinstance(o.this, exp.Literal) and o.this.is_int
    }
    return [
        item
        for i, item in enumerate(select.expressions, start=1)
        if (item.alias and item.alias in names) or i in positions
    ]


def limit_inside(select: exp.Select) -> None:
    """``SELECT ... FROM src [WHERE w] [ORDER BY o] LIMIT n [OFFSET m]``: when neither the
    WHERE nor the ORDER BY reads PREDICT, the rows the LIMIT keeps do not depend on it, so
    they are picked first, in a subquery that the batch path can score in chunks. The ORDER
    BY stays outside too: chunks keep no order."""
    limit, offset = select.args.get("limit"), select.args.get("offset")
    source = select.args["from_"].this if select.args.get("from_") else None
    if (limit is None and offset is None) or not isinstance(source, exp.Table | exp.Subquery):
        return
    shaped = ("fetch", "joins", "laterals", "group", "having", "distinct", "qualify")
    if any(select.args.get(part) for part in shaped) or isinstance(source.this, exp.Func):
        return
    if _aggregates(select) or any(e.find(exp.Window) for e in select.expressions):
        return  # the LIMIT counts groups, or the windows need the rows it would drop
    where, order = select.args.get("where"), select.args.get("order")
    if _reads_prediction(where, select) or _reads_prediction(order, select):
        return
    # ORDER BY 2 or a select-list name: the subquery has neither.
    if order is not None and (
        _items_named(order, select)
        or any(isinstance(o.this, exp.Literal) for o in order.expressions)
    ):
        return
    rows = exp.select("*").from_(source.copy())
    for part, value in (("where", where), ("order", order), ("limit", limit), ("offset", offset)):
        if value is not None:
            rows.set(part, value.copy())
    for part in ("where", "limit", "offset"):
        select.set(part, None)
    alias = exp.TableAlias(this=exp.to_identifier(source.alias_or_name))
    source.replace(exp.Subquery(this=rows, alias=alias))
