"""How PostgreSQL runs a feature table's point-in-time lookups (feature_tables/point_in_time.py).

Each lookup must be one backward step on the primary key's index (ORDER BY timestamp DESC
LIMIT 1), not a scan and sort of the key's rows: that is what makes FEATURES_AT_TIME and
PREDICT's lookup as fast as the LATERAL join a user would write.
"""

from __future__ import annotations

import sqlml


def plan(con: sqlml.Connection, query: str) -> str:
    return "\n".join(r[0] for r in con.execute(f"EXPLAIN {query}").fetchall())


def test_each_lookup_is_one_backward_index_step(pg, con):
    pg.execute(
        "CREATE TABLE readings AS SELECT k, TIMESTAMP '2024-01-01' + d * INTERVAL '1 day' AS t, "
        "(k * d) % 17 AS v FROM generate_series(1, 500) k, generate_series(1, 100) d"
    )
    pg.execute(
        "CREATE TABLE spine AS SELECT k, TIMESTAMP '2024-02-15' AS at FROM readings LIMIT 50"
    )
    con.execute("CREATE FEATURE TABLE r KEY k TIMESTAMP t AS SELECT * FROM readings")
    pg.execute("ANALYZE r")
    pg.execute("ANALYZE spine")
    for query in (
        "SELECT * FROM FEATURES_AT_TIME(r, TABLE spine)",
        "SELECT * FROM FEATURES_AT_TIME(r, TABLE spine, at)",
    ):
        shown = plan(con, query)
        assert "Index Scan Backward" in shown, shown
        assert "NULLS LAST" not in shown
