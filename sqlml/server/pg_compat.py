"""What PostgreSQL's clients ask of its catalog that DuckDB lacks, as DuckDB objects.

They live in an in-memory database attached once per served database (``sqlml_pg``), so
nothing is written into the user's file. sqlml.server.pg_rewrite points a client's
``pg_catalog.X`` at them where X is defined here, and every session finds them through its
search_path (after the database's own schema) when a client names them unqualified.

DuckDB's own pg_catalog views are the base where they are right; where they are not
(OIDs of types, 0-based column numbers in constraints, no index behind a primary key,
tables of every attached database) the view here wraps or replaces them.
"""

from __future__ import annotations

from typing import Any

from sqlml.server import pg_types

CATALOG = "sqlml_pg"
OWNER_OID = 10
OWNER = "sqlml"

# The relations and functions defined here: pg_rewrite sends pg_catalog.X to these.
RELATIONS = frozenset(
    {
        "pg_namespace",
        "pg_class",
        "pg_attribute",
        "pg_type",
        "pg_index",
        "pg_constraint",
        "pg_database",
        "pg_roles",
        "pg_user",
        "pg_authid",
        "pg_proc",
        "pg_language",
        "pg_settings",
        "pg_tables",
        "pg_views",
        "pg_matviews",
        "pg_stat_activity",
        "pg_inherits",
        "pg_policy",
        "pg_statistic_ext",
        "pg_publication",
        "pg_publication_rel",
        "pg_publication_namespace",
        "pg_trigger",
        "pg_rewrite",
        "pg_range",
        "pg_extension",
        "pg_foreign_table",
        "pg_partitioned_table",
        "pg_event_trigger",
        "pg_cast",
        "pg_operator",
        "pg_opclass",
        "pg_tablespace",
        "pg_shdescription",
        "pg_seclabel",
        "pg_auth_members",
        "pg_timezone_names",
        "pg_collation",
        "pg_am",
    }
)
FUNCTIONS = frozenset(
    {
        "version",
        "format_type",
        "pg_get_userbyid",
        "pg_get_expr",
        "pg_get_indexdef",
        "pg_get_constraintdef",
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
        "pg_get_keywords",
        "pg_get_partkeydef",
        "pg_partition_root",
        "pg_partition_ancestors",
        "pg_get_triggerdef",
        "pg_get_statisticsobjdef_columns",
        "pg_get_serial_sequence",
        "pg_relation_is_publishable",
        "pg_encoding_to_char",
        "pg_backend_pid",
        "pg_is_in_recovery",
        "pg_total_relation_size",
        "pg_relation_size",
        "pg_table_size",
        "pg_indexes_size",
        "pg_tablespace_location",
        "array_upper",
        "array_lower",
        "txid_current",
        "obj_description",
        "to_regclass",
        "regclass_oid",
        "regclass_name",
        "regtype_oid",
        "regtype_name",
        "regnamespace_name",
        "regproc_name",
        "regproc_oid",
        "regnamespace_oid",
        "_pg_expandarray",
        "vector",
        "pg_get_viewdef",
        "pg_advisory_unlock_all",
        "pg_advisory_lock",
        "pg_advisory_unlock",
        "pg_try_advisory_lock",
        "quote_ident",
        "current_user",
        "session_user",
        "pg_has_role",
        "has_schema_privilege",
        "has_table_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_function_privilege",
        "has_sequence_privilege",
        "pg_function_is_visible",
        "pg_type_is_visible",
    }
)

# PostgreSQL's names of its types as format_type() writes them.
_DISPLAY = {
    "bool": "boolean",
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "varchar": "character varying",
    "bpchar": "character",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    '"char"': '"char"',
}
_CATEGORY = {
    "bool": "B",
    "int2": "N",
    "int4": "N",
    "int8": "N",
    "float4": "N",
    "float8": "N",
    "numeric": "N",
    "oid": "N",
    "regproc": "N",
    "regclass": "N",
    "regtype": "N",
    "text": "S",
    "varchar": "S",
    "bpchar": "S",
    "name": "S",
    "char": "Z",
    "date": "D",
    "time": "D",
    "timetz": "D",
    "timestamp": "D",
    "timestamptz": "D",
    "interval": "T",
    "bit": "V",
    "unknown": "X",
}


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


ART_OID = 3_899_999_999  # DuckDB's index method: an OID past DuckDB's own
_TYPE_FUNCTIONS_FROM = 3_900_000_000  # OIDs of the types' I/O functions, past DuckDB's


def _type_functions() -> dict[str, int]:
    """The input/output functions pg_type names (typinput, typreceive, ...) → their OIDs,
    so that clients joining pg_type to pg_proc (Npgsql) find them."""
    names = ["array_in", "array_out", "array_recv", "array_send"]
    for pg in sorted(pg_types.BY_OID.values(), key=lambda t: t.oid):
        if pg.oid not in pg_types.ELEMENT_OF:
            names += [f"{pg.name}in", f"{pg.name}out", f"{pg.name}recv", f"{pg.name}send"]
    return {name: _TYPE_FUNCTIONS_FROM + n for n, name in enumerate(names)}


def _type_functions_values() -> str:
    return ", ".join(f"({oid}, {_literal(name)})" for name, oid in _type_functions().items())


def _types_values() -> str:
    """pg_type's rows for the types the server sends, as a VALUES list."""
    functions = _type_functions()
    rows = []
    for pg in sorted(pg_types.BY_OID.values(), key=lambda t: t.oid):
        element = pg_types.ELEMENT_OF.get(pg.oid)
        base = pg.name if element is None else element.name
        display = _DISPLAY.get(base, base) + ("[]" if element else "")
        category = "A" if element else _CATEGORY.get(pg.name, "U")
        fixed = pg.size > 0 and pg.size <= 8
        rows.append(
            "("
            + ", ".join(
                _literal(v)
                for v in (
                    pg.oid,
                    pg.name,
                    display,
                    pg.size,
                    fixed,
                    category,
                    element.oid if element else 0,
                    pg.array_oid,
                    *(
                        functions[f"{base}{io}" if element is None else f"array_{io}"]
                        for io in ("in", "out", "recv", "send")
                    ),
                )
            )
            + ")"
        )
    return ",\n".join(rows)


def _duckdb_to_oid(column: str) -> str:
    """A CASE giving the OID the server sends a column of a DuckDB type (by name) as."""
    scalars = " ".join(
        f"WHEN {_literal(duck)} THEN {pg_types.BY_NAME[pg].oid}"
        for duck, pg in pg_types.FROM_DUCKDB.items()
    )
    arrays = " ".join(
        f"WHEN {_literal(duck + '[]')} THEN {pg_types.BY_NAME[pg].array_oid}"
        for duck, pg in pg_types.FROM_DUCKDB.items()
        if pg_types.BY_NAME[pg].array_oid
    )
    return (
        f"CASE WHEN {column} LIKE 'DECIMAL%[]' THEN 1231 WHEN {column} LIKE 'DECIMAL%' THEN 1700"
        f" ELSE coalesce(CASE {column} {scalars} {arrays} END, 25) END"
    )


def _empty(name: str, columns: str) -> str:
    """A catalog PostgreSQL has and DuckDB has nothing for: its columns, no rows."""
    casts = ", ".join(
        f"CAST(NULL AS {kind}) AS {column}"
        for column, kind in (pair.split(":") for pair in columns.split())
    )
    return f"CREATE OR REPLACE VIEW {{c}}.{name} AS SELECT {casts} WHERE false"


def _lookup(value: str, source: str, key: str, argument: str) -> str:
    """``value`` from the row of ``source`` whose ``key`` is ``argument``, for a macro's
    body. The relation's columns are renamed inside a subquery so that the macro's argument
    (substituted as the caller wrote it: ``t.oid``, or a bare ``oid``) cannot bind to them
    instead of to the caller's."""
    return (
        f"(SELECT any_value(sqlml_found.sqlml_value) FROM (SELECT {value} AS sqlml_value,"
        f" {key} AS sqlml_key FROM {source}) AS sqlml_found"
        f" WHERE sqlml_found.sqlml_key = {argument})"
    )


_VIEW_BODY = _lookup(
    "regexp_replace(sql, '^CREATE (TEMP |TEMPORARY )?VIEW .*? AS ', '')",
    "duckdb_views()",
    "view_oid",
    "rel",
)
_CONSTRAINT_DEF = _lookup("definition", "{c}.pg_constraint", "oid", "constraint_oid")
_INDEX_DEF = _lookup("definition", "{c}.index_info", "oid", "index_oid")
_INDEX_COLUMNS = _lookup(
    "list_transform(i.indkey, lambda k: t.names[k])",
    "{c}.index_info i JOIN {c}.column_names t ON t.table_oid = i.table_oid",
    "i.oid",
    "index_oid",
)
_ARGUMENTS = "array_to_string(parameters, ', ')"
_RELATIONS = "{c}.pg_class c JOIN {c}.pg_namespace n ON n.oid = c.relnamespace"
# A relation's name as regclass reads it: schema.name, or name in the current schema.
_QUALIFIED = (
    "CASE WHEN len({c}.parse_ident(name)) = 1 THEN current_schema() ELSE"
    " {c}.parse_ident(name)[-2] END || chr(0) || {c}.parse_ident(name)[-1]"
)
_TABLE_COMMENTS = "(SELECT * FROM pg_catalog.pg_description WHERE objsubid = 0)"

# Every statement names the compatibility schema as {c}.
_OBJECTS = [
    "CREATE OR REPLACE TABLE {c}.server_info (version VARCHAR)",
    "CREATE OR REPLACE MACRO {c}.version() AS (SELECT version FROM {c}.server_info)",
    # Types: PostgreSQL's, with the OIDs the server sends in RowDescription.
    # Type OIDs are UINTEGER, which the server sends as oid: drivers read pg_type's columns
    # (and arrays of them) by that type before they know any other (asyncpg).
    "CREATE OR REPLACE TABLE {c}.pg_type_base (oid UINTEGER, typname VARCHAR, display VARCHAR,"
    " typlen SMALLINT, typbyval BOOLEAN, typcategory VARCHAR, typelem UINTEGER, typarray UINTEGER,"
    " typinput UINTEGER, typoutput UINTEGER, typreceive UINTEGER, typsend UINTEGER)",
    "CREATE OR REPLACE TABLE {c}.type_functions (oid BIGINT, proname VARCHAR)",
    "INSERT INTO {c}.type_functions VALUES {type_functions}",
    "INSERT INTO {c}.pg_type_base VALUES {types}",
    "CREATE OR REPLACE VIEW {c}.pg_type AS SELECT oid, typname,"
    " (SELECT oid FROM duckdb_schemas() WHERE database_name = 'system'"
    "  AND schema_name = 'pg_catalog') AS typnamespace,"
    f" {OWNER_OID} AS typowner, typlen, typbyval, 'b' AS typtype, typcategory,"
    " false AS typispreferred, true AS typisdefined, ',' AS typdelim, 0::UINTEGER AS typrelid,"
    " NULL::VARCHAR AS typsubscript, typelem, typarray, typinput, typoutput, typreceive,"
    " typsend, 0::BIGINT AS typmodin, 0::BIGINT AS typmodout, 0::BIGINT AS typanalyze,"
    " CASE WHEN typlen = 8 THEN 'd' WHEN typlen = 4 THEN 'i' WHEN typlen = 2 THEN 's'"
    "  ELSE 'c' END AS typalign, CASE WHEN typlen > 0 THEN 'p' ELSE 'x' END AS typstorage,"
    " false AS typnotnull, 0::UINTEGER AS typbasetype, -1 AS typtypmod, 0 AS typndims,"
    " CASE WHEN typcategory = 'S' THEN 100 ELSE 0 END AS typcollation,"
    " NULL::VARCHAR AS typdefaultbin, NULL::VARCHAR AS typdefault, NULL::VARCHAR AS typacl"
    " FROM {c}.pg_type_base",
    "CREATE OR REPLACE MACRO {c}.duckdb_type_oid(name) AS {duckdb_to_oid}",
    "CREATE OR REPLACE MACRO {c}.format_type(type_oid, typemod) AS CASE"
    " WHEN type_oid = 1700 AND typemod > 4 THEN"
    "  printf('numeric(%d,%d)', (typemod - 4) >> 16, (typemod - 4) & 65535)"
    " WHEN type_oid = 1043 AND typemod > 4 THEN printf('character varying(%d)', typemod - 4)"
    f" ELSE {_lookup('display', '{c}.pg_type_base', 'oid', 'type_oid')} END",
    # Schemas of the served database, and PostgreSQL's own two.
    "CREATE OR REPLACE VIEW {c}.pg_namespace AS SELECT oid, schema_name AS nspname,"
    f" {OWNER_OID} AS nspowner, NULL::VARCHAR AS nspacl FROM duckdb_schemas()"
    " WHERE database_name = current_database() OR (database_name = 'system'"
    " AND schema_name IN ('pg_catalog', 'information_schema'))",
    # Constraints with PostgreSQL's numbering (attnum from 1) and their referenced table;
    # a primary key or unique constraint's index has the constraint's OID + 1.
    "CREATE OR REPLACE VIEW {c}.column_names AS SELECT table_oid,"
    " list(column_name ORDER BY column_index) AS names FROM duckdb_columns()"
    " WHERE database_name = current_database() GROUP BY table_oid",
    "CREATE OR REPLACE VIEW {c}.foreign_keys AS SELECT k.table_oid AS conrelid,"
    " r.table_oid AS confrelid FROM duckdb_constraints() k JOIN duckdb_tables() r"
    " ON r.database_name = k.database_name AND r.schema_name = k.schema_name"
    " AND r.table_name = k.referenced_table WHERE k.constraint_type = 'FOREIGN KEY'",
    "CREATE OR REPLACE VIEW {c}.pg_constraint AS SELECT"
    " (k.table_oid * 1000000 + k.constraint_index * 2) AS oid,"
    " CASE k.constraint_type WHEN 'PRIMARY KEY' THEN k.table_name || '_pkey'"
    "  ELSE k.constraint_name END AS conname,"
    " k.schema_oid AS connamespace,"
    " CASE k.constraint_type WHEN 'CHECK' THEN 'c' WHEN 'UNIQUE' THEN 'u'"
    "  WHEN 'PRIMARY KEY' THEN 'p' WHEN 'FOREIGN KEY' THEN 'f' END AS contype,"
    " false AS condeferrable, false AS condeferred, true AS convalidated,"
    " k.table_oid AS conrelid, 0::BIGINT AS contypid,"
    # A key's own index; for a foreign key, the referenced table's key index it uses.
    " CASE WHEN k.constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
    "  THEN k.table_oid * 1000000 + k.constraint_index * 2 + 1"
    "  WHEN k.constraint_type = 'FOREIGN KEY'"
    "  THEN coalesce(p.table_oid * 1000000 + p.constraint_index * 2 + 1, 0)"
    "  ELSE 0 END AS conindid,"
    " 0::BIGINT AS conparentid, coalesce(r.table_oid, 0) AS confrelid,"
    " 'a' AS confupdtype, 'a' AS confdeltype, 's' AS confmatchtype, true AS conislocal,"
    " 0 AS coninhcount, false AS connoinherit,"
    " list_transform(k.constraint_column_indexes, lambda i: (i + 1)::SMALLINT) AS conkey,"
    " CASE WHEN r.table_oid IS NOT NULL THEN list_transform(k.referenced_column_names,"
    "  lambda n: list_position(rc.names, n)::SMALLINT) END AS confkey,"
    " k.expression AS conbin,"
    " CASE k.constraint_type WHEN 'CHECK' THEN 'CHECK (' || k.expression || ')'"
    "  WHEN 'FOREIGN KEY' THEN k.constraint_text"
    "  ELSE k.constraint_type || ' (' || array_to_string(k.constraint_column_names, ', ')"
    "  || ')' END AS definition"
    " FROM duckdb_constraints() k LEFT JOIN duckdb_tables() r"
    " ON r.database_name = k.database_name AND r.schema_name = k.schema_name"
    " AND r.table_name = k.referenced_table LEFT JOIN {c}.column_names rc"
    " ON rc.table_oid = r.table_oid LEFT JOIN duckdb_constraints() p"
    " ON p.table_oid = r.table_oid AND p.constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
    " AND p.constraint_column_names = k.referenced_column_names"
    " WHERE k.constraint_type <> 'NOT NULL' AND k.database_name = current_database()",
    # (A macro's overloads are defined in one statement: a second would replace the first.)
    "CREATE OR REPLACE MACRO {c}.pg_get_constraintdef(constraint_oid) AS"
    f" {_CONSTRAINT_DEF}, (constraint_oid, pretty) AS {_CONSTRAINT_DEF}",
    # Indexes: DuckDB's, and the one PostgreSQL has behind each primary key and unique.
    # (Columns are found by position in a table's list of names: DuckDB allows no
    # subquery inside a lambda.)
    "CREATE OR REPLACE VIEW {c}.index_info AS"
    " SELECT i.index_oid AS oid, i.index_name AS relname, i.schema_oid, i.table_oid,"
    " i.is_unique, i.is_primary, 'CREATE ' || CASE WHEN i.is_unique THEN 'UNIQUE ' ELSE '' END"
    " || 'INDEX ' || i.index_name || ' ON ' || i.schema_name || '.' || i.table_name"
    " || ' USING art (' || array_to_string(list_transform(string_split(trim(i.expressions,"
    " '[]'), ', '), lambda e: trim(e, '''')), ', ') || ')' AS definition,"
    " list_transform(string_split(trim(i.expressions, '[]'), ', '),"
    "  lambda e: coalesce(list_position(t.names, trim(e, '''\"')), 0)::SMALLINT) AS indkey"
    " FROM duckdb_indexes() i JOIN {c}.column_names t ON t.table_oid = i.table_oid"
    " WHERE i.database_name = current_database()"
    " UNION ALL SELECT k.oid + 1, k.conname, k.connamespace, k.conrelid, true, k.contype = 'p',"
    " 'CREATE UNIQUE INDEX ' || k.conname || ' ON ' || n.nspname || '.' || t.table_name"
    " || ' USING btree (' || array_to_string(list_transform(k.conkey, lambda a:"
    "  cols.names[a]), ', ') || ')', k.conkey"
    " FROM {c}.pg_constraint k JOIN duckdb_tables() t ON t.table_oid = k.conrelid"
    " JOIN {c}.column_names cols ON cols.table_oid = k.conrelid"
    " JOIN {c}.pg_namespace n ON n.oid = k.connamespace WHERE k.contype IN ('p', 'u')",
    "CREATE OR REPLACE VIEW {c}.pg_index AS SELECT oid AS indexrelid, table_oid AS indrelid,"
    " len(indkey)::SMALLINT AS indnatts, len(indkey)::SMALLINT AS indnkeyatts,"
    " is_unique AS indisunique, false AS indnullsnotdistinct, is_primary AS indisprimary,"
    " false AS indisexclusion, true AS indimmediate, false AS indisclustered,"
    " true AS indisvalid, false AS indcheckxmin, true AS indisready, true AS indislive,"
    # int2vector and oidvector columns read as PostgreSQL writes them ('1 2'); pg_rewrite
    # wraps them in vector() where a query takes them apart (unnest, subscripts).
    " false AS indisreplident, array_to_string(indkey, ' ') AS indkey,"
    " array_to_string(list_transform(indkey, lambda k: 0), ' ') AS indcollation,"
    " array_to_string(list_transform(indkey, lambda k: 0), ' ') AS indclass,"
    " array_to_string(list_transform(indkey, lambda k: 0), ' ') AS indoption,"
    " NULL::VARCHAR AS indexprs, NULL::VARCHAR AS indpred FROM {c}.index_info",
    "CREATE OR REPLACE MACRO {c}.pg_get_indexdef(index_oid) AS"
    f" {_INDEX_DEF}, (index_oid, column_no, pretty) AS CASE WHEN column_no = 0"
    f" THEN {_INDEX_DEF} ELSE {_INDEX_COLUMNS}[column_no] END",
    # Relations of the served database (and pg_catalog's), with an owner and indexes.
    "CREATE OR REPLACE VIEW {c}.pg_class AS"
    " SELECT * REPLACE ({owner} AS relowner, coalesce(relreplident, 'd') AS relreplident,"
    "  relhasindex OR oid IN (SELECT table_oid FROM duckdb_constraints()"
    "  WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE')) AS relhasindex,"
    # PostgreSQL keeps foreign keys with triggers: psql shows them only where it has some.
    "  oid IN (SELECT conrelid FROM {c}.foreign_keys UNION"
    "  SELECT confrelid FROM {c}.foreign_keys) AS relhastriggers,"
    "  CASE WHEN relkind = 'i' THEN 403 ELSE CASE WHEN relkind = 'r' THEN 2 ELSE 0 END END"
    "  AS relam), false AS relforcerowsecurity FROM pg_catalog.pg_class"
    " WHERE relkind <> 'i' AND relnamespace IN (SELECT oid FROM {c}.pg_namespace)"
    " UNION ALL SELECT p.* REPLACE (i.oid AS oid, i.relname AS relname,"
    "  i.schema_oid AS relnamespace, {owner} AS relowner, 'd' AS relreplident,"
    "  false AS relhasindex, 403 AS relam, 'p' AS relpersistence, 'i' AS relkind,"
    "  len(i.indkey)::INTEGER AS relnatts), false"
    " FROM {c}.index_info i, (SELECT * FROM pg_catalog.pg_class LIMIT 1) p",
    "CREATE OR REPLACE VIEW {c}.pg_attribute AS SELECT * REPLACE ("
    " {c}.duckdb_type_oid(a.data_type)::UINTEGER AS atttypid,"
    " CASE WHEN a.data_type LIKE 'DECIMAL(%' THEN ((a.numeric_precision << 16)"
    "  | a.numeric_scale) + 4 ELSE -1 END AS atttypmod,"
    " CASE WHEN {c}.duckdb_type_oid(a.data_type) IN (25, 1043) THEN 100 ELSE 0 END"
    "  AS attcollation)"
    " FROM pg_catalog.pg_attribute p JOIN duckdb_columns() a"
    " ON a.table_oid = p.attrelid AND a.column_index = p.attnum"
    " WHERE a.database_name = current_database()",
    "CREATE OR REPLACE VIEW {c}.pg_database AS SELECT database_oid AS oid,"
    f" database_name AS datname, {OWNER_OID} AS datdba, 6 AS encoding, 'c' AS datlocprovider,"
    " false AS datistemplate, true AS datallowconn, -1 AS datconnlimit,"
    " 'C' AS datcollate, 'C' AS datctype, NULL::VARCHAR AS daticulocale,"
    " NULL::VARCHAR AS datcollversion, NULL::VARCHAR[] AS datacl, 1663 AS dattablespace"
    " FROM duckdb_databases() WHERE database_name = current_database()",
    # One role: the server's.
    "CREATE OR REPLACE VIEW {c}.pg_roles AS SELECT"
    f" {OWNER_OID}::BIGINT AS oid, '{OWNER}' AS rolname, true AS rolsuper, true AS rolinherit,"
    " true AS rolcreaterole, true AS rolcreatedb, true AS rolcanlogin,"
    " false AS rolreplication, -1 AS rolconnlimit, '********' AS rolpassword,"
    " NULL::TIMESTAMPTZ AS rolvaliduntil, true AS rolbypassrls, NULL::VARCHAR[] AS rolconfig",
    "CREATE OR REPLACE VIEW {c}.pg_authid AS SELECT * FROM {c}.pg_roles",
    "CREATE OR REPLACE VIEW {c}.pg_user AS SELECT rolname AS usename, oid AS usesysid,"
    " rolcreatedb AS usecreatedb, rolsuper AS usesuper, false AS userepl,"
    " true AS usebypassrls, rolpassword AS passwd, rolvaliduntil AS valuntil,"
    " rolconfig AS useconfig FROM {c}.pg_roles",
    f"CREATE OR REPLACE MACRO {{c}}.pg_get_userbyid(role_oid) AS '{OWNER}'",
    f"CREATE OR REPLACE MACRO {{c}}.current_user() AS '{OWNER}'",
    f"CREATE OR REPLACE MACRO {{c}}.session_user() AS '{OWNER}'",
    # Functions: DuckDB's, in schemas of this database or pg_catalog, and the types' I/O.
    "CREATE OR REPLACE VIEW {c}.pg_proc AS SELECT * REPLACE ("
    f" {OWNER_OID} AS proowner, 14 AS prolang, 0::BIGINT AS prorettype)"
    " FROM pg_catalog.pg_proc WHERE pronamespace IN (SELECT oid FROM {c}.pg_namespace)"
    " UNION ALL SELECT p.* REPLACE (f.oid AS oid, f.proname AS proname,"
    f" {OWNER_OID} AS proowner, 12 AS prolang, 0::BIGINT AS prorettype)"
    " FROM {c}.type_functions f, (SELECT * FROM pg_catalog.pg_proc LIMIT 1) p",
    "CREATE OR REPLACE MACRO {c}.pg_get_function_result(proc) AS"
    f" {_lookup('lower(return_type)', 'duckdb_functions()', 'function_oid', 'proc')}",
    "CREATE OR REPLACE MACRO {c}.pg_get_function_arguments(proc) AS"
    f" {_lookup(_ARGUMENTS, 'duckdb_functions()', 'function_oid', 'proc')}",
    "CREATE OR REPLACE MACRO {c}.pg_get_function_identity_arguments(proc) AS"
    " {c}.pg_get_function_arguments(proc)",
    "CREATE OR REPLACE VIEW {c}.pg_language AS SELECT * FROM (VALUES"
    f" (12::BIGINT, 'internal', {OWNER_OID}), (13, 'c', {OWNER_OID}), (14, 'sql', {OWNER_OID}))"
    " AS l(oid, lanname, lanowner)",
    # Visibility and privileges: one user who may do everything.
    "CREATE OR REPLACE MACRO {c}.pg_function_is_visible(function_oid) AS true",
    "CREATE OR REPLACE MACRO {c}.pg_type_is_visible(type_oid) AS true",
    *(
        f"CREATE OR REPLACE MACRO {{c}}.{name}(a, b) AS true, (a, b, c) AS true"
        for name in (
            "pg_has_role",
            "has_schema_privilege",
            "has_table_privilege",
            "has_database_privilege",
            "has_any_column_privilege",
            "has_function_privilege",
            "has_sequence_privilege",
        )
    ),
    "CREATE OR REPLACE MACRO {c}.has_column_privilege(a, b, c) AS true, (a, b, c, d) AS true",
    "CREATE OR REPLACE MACRO {c}.pg_get_viewdef(rel) AS"
    f" {_VIEW_BODY}, (rel, pretty) AS {_VIEW_BODY}",
    # reg* casts, as pg_rewrite turns them into calls.
    "CREATE OR REPLACE MACRO {c}.parse_ident(name) AS"
    " list_transform(string_split(name, '.'), lambda p: trim(p, '\"'))",
    "CREATE OR REPLACE MACRO {c}.regclass_oid(name) AS CASE"
    " WHEN regexp_full_match(name, '[0-9]+') THEN name::BIGINT ELSE"
    f" {_lookup('c.oid', _RELATIONS, 'n.nspname || chr(0) || c.relname', _QUALIFIED)}"
    " END",
    "CREATE OR REPLACE MACRO {c}.to_regclass(name) AS {c}.regclass_oid(name)",
    "CREATE OR REPLACE MACRO {c}.regclass_name(rel_oid) AS"
    f" coalesce({_lookup('relname', '{c}.pg_class', 'oid', 'rel_oid')}, rel_oid::VARCHAR)",
    "CREATE OR REPLACE MACRO {c}.regtype_oid(name) AS coalesce("
    f" {_lookup('oid', '{c}.pg_type_base', 'typname', 'lower(name)')},"
    f" {_lookup('oid', '{c}.pg_type_base', 'display', 'lower(name)')})",
    "CREATE OR REPLACE MACRO {c}.regtype_name(type_oid) AS"
    " coalesce({c}.format_type(type_oid, NULL), type_oid::VARCHAR)",
    "CREATE OR REPLACE MACRO {c}.regnamespace_name(ns_oid) AS"
    f" {_lookup('nspname', '{c}.pg_namespace', 'oid', 'ns_oid')}",
    "CREATE OR REPLACE MACRO {c}.regproc_name(proc) AS"
    f" coalesce({_lookup('proname', '{c}.pg_proc', 'oid', 'proc')}, proc::VARCHAR)",
    "CREATE OR REPLACE MACRO {c}.regproc_oid(name) AS CASE"
    " WHEN regexp_full_match(name, '[0-9]+') THEN name::BIGINT ELSE"
    f" {_lookup('oid', '{c}.pg_proc', 'proname', '{c}.parse_ident(name)[-1]')} END",
    "CREATE OR REPLACE MACRO {c}.regnamespace_oid(name) AS"
    f" {_lookup('oid', '{c}.pg_namespace', 'nspname', '{c}.parse_ident(name)[-1]')}",
    "CREATE OR REPLACE MACRO {c}.vector(text) AS"
    " list_transform(regexp_extract_all(text::VARCHAR, '-?[0-9]+'), lambda x: x::BIGINT)",
    "CREATE OR REPLACE MACRO {c}._pg_expandarray(a) AS"
    " unnest(list_transform(range(1, len(a) + 1), lambda i: {{'x': a[i], 'n': i}}))",
    # Expressions, sizes, settings and the server's state.
    "CREATE OR REPLACE MACRO {c}.pg_get_expr(expr, relation) AS expr,"
    " (expr, relation, pretty) AS expr",
    "CREATE OR REPLACE MACRO {c}.pg_get_partkeydef(rel_oid) AS NULL::VARCHAR",
    # No partitions: a relation is its own root and only ancestor.
    "CREATE OR REPLACE MACRO {c}.pg_partition_root(rel) AS rel",
    "CREATE OR REPLACE MACRO {c}.pg_partition_ancestors(rel) AS unnest([rel::BIGINT])",
    "CREATE OR REPLACE MACRO {c}.pg_get_triggerdef(t) AS NULL::VARCHAR,"
    " (t, pretty) AS NULL::VARCHAR",
    "CREATE OR REPLACE MACRO {c}.pg_get_statisticsobjdef_columns(stat_oid) AS NULL::VARCHAR",
    "CREATE OR REPLACE MACRO {c}.pg_get_serial_sequence(rel, col) AS NULL::VARCHAR",
    "CREATE OR REPLACE MACRO {c}.pg_relation_is_publishable(rel_oid) AS false",
    "CREATE OR REPLACE MACRO {c}.pg_encoding_to_char(encoding) AS 'UTF8'",
    "CREATE OR REPLACE MACRO {c}.pg_backend_pid() AS 0",
    # Advisory locks (asyncpg's pool resets them): one database, nothing to lock against.
    "CREATE OR REPLACE MACRO {c}.pg_advisory_unlock_all() AS NULL",
    "CREATE OR REPLACE MACRO {c}.pg_advisory_lock(k) AS NULL, (a, b) AS NULL",
    "CREATE OR REPLACE MACRO {c}.pg_advisory_unlock(k) AS true, (a, b) AS true",
    "CREATE OR REPLACE MACRO {c}.pg_try_advisory_lock(k) AS true, (a, b) AS true",
    "CREATE OR REPLACE MACRO {c}.pg_is_in_recovery() AS false",
    "CREATE OR REPLACE MACRO {c}.txid_current() AS 1::BIGINT",
    "CREATE OR REPLACE MACRO {c}.pg_tablespace_location(ts) AS ''",
    *(
        f"CREATE OR REPLACE MACRO {{c}}.{name}(rel) AS 0::BIGINT"
        for name in (
            "pg_total_relation_size",
            "pg_relation_size",
            "pg_table_size",
            "pg_indexes_size",
        )
    ),
    "CREATE OR REPLACE MACRO {c}.array_upper(a, dimension) AS"
    " CASE WHEN dimension = 1 AND len(a) > 0 THEN len(a) END",
    "CREATE OR REPLACE MACRO {c}.array_lower(a, dimension) AS"
    " CASE WHEN dimension = 1 AND len(a) > 0 THEN 1 END",
    "CREATE OR REPLACE MACRO {c}.obj_description(object_oid) AS NULL::VARCHAR,"
    f" (object_oid, catalog) AS {_lookup('description', _TABLE_COMMENTS, 'objoid', 'object_oid')}",
    "CREATE OR REPLACE MACRO {c}.quote_ident(name) AS CASE"
    " WHEN regexp_full_match(name, '[a-z_][a-z0-9_$]*') THEN name"
    " ELSE '\"' || replace(name, '\"', '\"\"') || '\"' END",
    "CREATE OR REPLACE MACRO {c}.pg_get_keywords() AS TABLE SELECT keyword_name AS word,"
    " CASE keyword_category WHEN 'reserved' THEN 'R' WHEN 'unreserved' THEN 'U'"
    " WHEN 'type_function' THEN 'T' ELSE 'C' END AS catcode,"
    " CASE keyword_category WHEN 'reserved' THEN 'reserved' WHEN 'unreserved' THEN"
    " 'unreserved' ELSE 'unreserved (cannot be function or type name)' END AS catdesc,"
    " true AS barelabel FROM duckdb_keywords()",
    # DuckDB's settings, and PostgreSQL's fixed ones that drivers read (pgjdbc needs
    # max_index_keys for getImportedKeys).
    "CREATE OR REPLACE TABLE {c}.fixed_settings (name VARCHAR, value VARCHAR)",
    "INSERT INTO {c}.fixed_settings VALUES ('max_index_keys', '32'),"
    " ('max_identifier_length', '63'), ('block_size', '8192'), ('integer_datetimes', 'on'),"
    " ('max_function_args', '100'), ('server_encoding', 'UTF8'),"
    " ('data_checksums', 'off'), ('segment_size', '131072')",
    "CREATE OR REPLACE VIEW {c}.pg_settings AS SELECT name, value AS setting,"
    " NULL::VARCHAR AS unit, 'Ungrouped' AS category, description AS short_desc,"
    " NULL::VARCHAR AS extra_desc, 'user' AS context, input_type AS vartype,"
    " 'default' AS source, NULL::VARCHAR AS min_val, NULL::VARCHAR AS max_val,"
    " NULL::VARCHAR[] AS enumvals, NULL::VARCHAR AS boot_val, NULL::VARCHAR AS reset_val,"
    " NULL::VARCHAR AS sourcefile, NULL::INTEGER AS sourceline, false AS pending_restart"
    " FROM (SELECT name, value, description, input_type FROM duckdb_settings() UNION ALL"
    " SELECT name, value, 'PostgreSQL''s, fixed', 'VARCHAR' FROM {c}.fixed_settings)",
    "CREATE OR REPLACE VIEW {c}.pg_tables AS SELECT n.nspname AS schemaname,"
    f" c.relname AS tablename, '{OWNER}' AS tableowner, NULL::VARCHAR AS tablespace,"
    " c.relhasindex AS hasindexes, false AS hasrules, false AS hastriggers,"
    " false AS rowsecurity FROM {c}.pg_class c JOIN {c}.pg_namespace n"
    " ON n.oid = c.relnamespace WHERE c.relkind = 'r'",
    "CREATE OR REPLACE VIEW {c}.pg_views AS SELECT n.nspname AS schemaname,"
    f" c.relname AS viewname, '{OWNER}' AS viewowner, pg_catalog.pg_get_viewdef(c.oid)"
    " AS definition FROM {c}.pg_class c JOIN {c}.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'v'",
    # Access methods: tables are heap, the indexes behind keys btree, DuckDB's own art.
    "CREATE OR REPLACE VIEW {c}.pg_am AS SELECT * FROM (VALUES (2::BIGINT, 'heap', 't'),"
    f" (403, 'btree', 'i'), ({ART_OID}, 'art', 'i')) AS l(oid, amname, amtype),"
    " (SELECT NULL::VARCHAR AS amhandler)",
    # Text columns have the default collation (100), as in PostgreSQL.
    "CREATE OR REPLACE VIEW {c}.pg_collation AS SELECT * FROM (VALUES"
    " (100::BIGINT, 'default', 'd'), (950, 'C', 'c'), (951, 'POSIX', 'c'))"
    " AS l(oid, collname, collprovider), (SELECT oid AS collnamespace FROM duckdb_schemas()"
    " WHERE database_name = 'system' AND schema_name = 'pg_catalog'),"
    f" (SELECT {OWNER_OID} AS collowner, true AS collisdeterministic, 6 AS collencoding,"
    " 'C' AS collcollate, 'C' AS collctype, NULL::VARCHAR AS colliculocale,"
    " NULL::VARCHAR AS collversion)",
    "CREATE OR REPLACE VIEW {c}.pg_tablespace AS SELECT 1663::BIGINT AS oid,"
    f" 'pg_default' AS spcname, {OWNER_OID} AS spcowner, NULL::VARCHAR[] AS spcacl,"
    " NULL::VARCHAR[] AS spcoptions",
    "CREATE OR REPLACE VIEW {c}.pg_stat_activity AS SELECT current_database() AS datname,"
    f" 0 AS pid, '{OWNER}' AS usename, '' AS application_name, 'active' AS state,"
    " NULL::VARCHAR AS query, now() AS backend_start WHERE false",
    "CREATE OR REPLACE VIEW {c}.pg_timezone_names AS SELECT name, abbrev,"
    " utc_offset, is_dst FROM pg_timezone_names()",
    _empty("pg_matviews", "schemaname:VARCHAR matviewname:VARCHAR definition:VARCHAR"),
    _empty(
        "pg_inherits",
        "inhrelid:BIGINT inhparent:BIGINT inhseqno:INTEGER inhdetachpending:BOOLEAN",
    ),
    _empty(
        "pg_policy",
        "oid:BIGINT polname:VARCHAR polrelid:BIGINT polcmd:VARCHAR polpermissive:BOOLEAN"
        " polroles:BIGINT[] polqual:VARCHAR polwithcheck:VARCHAR",
    ),
    _empty(
        "pg_statistic_ext",
        "oid:BIGINT stxrelid:BIGINT stxname:VARCHAR stxnamespace:BIGINT stxowner:BIGINT"
        " stxstattarget:INTEGER stxkeys:SMALLINT[] stxkind:VARCHAR[] stxexprs:VARCHAR",
    ),
    _empty(
        "pg_publication",
        "oid:BIGINT pubname:VARCHAR pubowner:BIGINT puballtables:BOOLEAN pubinsert:BOOLEAN"
        " pubupdate:BOOLEAN pubdelete:BOOLEAN pubtruncate:BOOLEAN pubviaroot:BOOLEAN",
    ),
    _empty(
        "pg_publication_rel",
        "oid:BIGINT prpubid:BIGINT prrelid:BIGINT prqual:VARCHAR prattrs:SMALLINT[]",
    ),
    _empty("pg_publication_namespace", "oid:BIGINT pnpubid:BIGINT pnnspid:BIGINT"),
    _empty(
        "pg_trigger",
        "oid:BIGINT tgrelid:BIGINT tgparentid:BIGINT tgname:VARCHAR tgfoid:BIGINT"
        " tgtype:SMALLINT tgenabled:VARCHAR tgisinternal:BOOLEAN tgconstrrelid:BIGINT"
        " tgconstraint:BIGINT tgdeferrable:BOOLEAN tginitdeferred:BOOLEAN tgnargs:SMALLINT",
    ),
    _empty(
        "pg_rewrite",
        "oid:BIGINT rulename:VARCHAR ev_class:BIGINT ev_type:VARCHAR ev_enabled:VARCHAR"
        " is_instead:BOOLEAN ev_qual:VARCHAR ev_action:VARCHAR",
    ),
    _empty(
        "pg_range",
        "rngtypid:UINTEGER rngsubtype:UINTEGER rngmultitypid:UINTEGER rngcollation:UINTEGER"
        " rngsubopc:BIGINT rngcanonical:VARCHAR rngsubdiff:VARCHAR",
    ),
    _empty(
        "pg_extension",
        "oid:BIGINT extname:VARCHAR extowner:BIGINT extnamespace:BIGINT"
        " extrelocatable:BOOLEAN extversion:VARCHAR",
    ),
    _empty(
        "pg_foreign_table",
        "ftrelid:BIGINT ftserver:BIGINT ftoptions:VARCHAR[]",
    ),
    _empty(
        "pg_partitioned_table",
        "partrelid:BIGINT partstrat:VARCHAR partnatts:SMALLINT partdefid:BIGINT",
    ),
    _empty(
        "pg_event_trigger",
        "oid:BIGINT evtname:VARCHAR evtevent:VARCHAR evtowner:BIGINT evtfoid:BIGINT"
        " evtenabled:VARCHAR",
    ),
    _empty(
        "pg_cast",
        "oid:BIGINT castsource:BIGINT casttarget:BIGINT castfunc:BIGINT castcontext:VARCHAR"
        " castmethod:VARCHAR",
    ),
    _empty(
        "pg_operator",
        "oid:BIGINT oprname:VARCHAR oprnamespace:BIGINT oprowner:BIGINT oprkind:VARCHAR"
        " oprleft:BIGINT oprright:BIGINT oprresult:BIGINT oprcode:VARCHAR",
    ),
    _empty(
        "pg_opclass",
        "oid:BIGINT opcmethod:BIGINT opcname:VARCHAR opcnamespace:BIGINT opcowner:BIGINT"
        " opcfamily:BIGINT opcintype:BIGINT opcdefault:BOOLEAN opckeytype:BIGINT",
    ),
    _empty("pg_shdescription", "objoid:BIGINT classoid:BIGINT description:VARCHAR"),
    _empty(
        "pg_seclabel",
        "objoid:BIGINT classoid:BIGINT objsubid:INTEGER provider:VARCHAR label:VARCHAR",
    ),
    _empty(
        "pg_auth_members",
        "oid:BIGINT roleid:BIGINT member:BIGINT grantor:BIGINT admin_option:BOOLEAN",
    ),
]


def install(con: Any, version: str) -> None:
    """Attach the compatibility catalog to a served database (once, at start)."""
    attached = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = $1", [CATALOG]
    ).fetchall()[0][0]
    if not attached:
        con.execute(f"ATTACH ':memory:' AS {CATALOG}")
    parts = {
        "c": f"{CATALOG}.main",
        "owner": OWNER_OID,
        "types": _types_values(),
        "type_functions": _type_functions_values(),
        "duckdb_to_oid": _duckdb_to_oid("name"),
    }
    for statement in _OBJECTS:
        con.execute(statement.format(**parts))
    # SQLAlchemy and JDBC read the server's version from version(): "PostgreSQL 16.x".
    con.execute(f"INSERT INTO {CATALOG}.main.server_info VALUES ($1)", [version])


def search_path(con: Any) -> None:
    """Make a session find the compatibility objects after its own schema's."""
    (database,) = con.execute("SELECT current_database()").fetchone()
    con.execute("SET search_path = $1", [f'"{database}".main,{CATALOG}.main'])
