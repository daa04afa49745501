"""dbt builds the example project (examples/dbt) with real dbt-core: on a DuckDB file through
the sqlml plugin, and on the PostgreSQL server after `sqlml install` (README: "dbt").

Each engine gets one copy of the project, built once; the tests then run in this file's
order, each changing the project or its data the way a user would and running dbt again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from servers import SERVER_DSN, dsn_for

import sqlml
from sqlml.install import install

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dbt"
DBT = Path(sys.executable).parent / "dbt"
PG_DATABASE = "sqlml_t_dbt"
PG_SCHEMA = "shop"
LABEL_TIME = "2025-12-28"  # scored_customers scores as of the data's last week

pytestmark = pytest.mark.slow


class Project:
    """A copy of the example project on one engine, and dbt run on it as a user runs it."""

    def __init__(self, folder: Path, engine: str, env: dict[str, str], database: str):
        self.folder, self.engine, self.env, self.database = folder, engine, env, database
        self.schema = "main" if engine == "duckdb" else PG_SCHEMA
        self.recorded: dict[str, Any] = {}

    def dbt(self, *args: str, ok: bool = True, target: str | None = None) -> str:
        command = [str(DBT), *args, "--profiles-dir", str(self.folder)]
        command += ["--target", target or self.engine]
        done = subprocess.run(
            command, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=600
        )
        output = done.stdout + done.stderr
        assert (done.returncode == 0) == ok, f"dbt {' '.join(args)}:\n{output}"
        return output

    @contextmanager
    def sqlml(self) -> Iterator[sqlml.Connection]:
        """sqlml on the project's database (a DuckDB file is free again once dbt exits)."""
        con = sqlml.connect(self.database)
        try:
            yield con
        finally:
            con.close()

    def rows(self, query: str) -> list[tuple]:
        with self.sqlml() as con:
            return con.execute(query).fetchall()

    def name(self, node: str) -> str:
        return f"{self.schema}.{node}"

    def versions(self, node: str) -> tuple[list[int], int]:
        """Every version of the node's model, and the one in use."""
        found = self.rows(f'SHOW MODEL VERSIONS "{self.schema}"."{node}"')
        return [row[1] for row in found], next(row[1] for row in found if row[2])

    def card(self, node: str) -> dict[str, Any]:
        with self.sqlml() as con:
            cursor = con.execute(f'SELECT * FROM "{self.schema}"."{node}"')
            names = [column[0] for column in cursor.description or []]
            (row,) = cursor.fetchall()
        return dict(zip(names, row, strict=True))

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.folder / path
        text = file.read_text()
        assert old in text, f"{old!r} is not in {path}"
        file.write_text(text.replace(old, new))

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.folder / "target" / "manifest.json").read_text())


def _copy_example(folder: Path) -> None:
    shutil.copytree(
        EXAMPLE,
        folder,
        ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", "*.duckdb*", "*.lock*"),
    )
    # Outside the checkout the package is found where sqlml is installed: `sqlml dbt init`.
    (folder / "packages.yml").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "sqlml", "dbt", "init", "--project-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert str(sqlml_package()) in (folder / "packages.yml").read_text()


def sqlml_package() -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "sqlml", "dbt-package"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", **extra}
    env.pop("DBT_PROFILES_DIR", None)
    return env


def _postgres_database(name: str, with_sqlml: bool) -> str:
    with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = dsn_for(name)
    if with_sqlml:
        install(dsn, report=lambda _: None)
    return dsn


def _postgres_env(database: str) -> dict[str, str]:
    server = urlsplit(SERVER_DSN)
    return _environment(
        PGHOST=server.hostname or "127.0.0.1",
        PGPORT=str(server.port or 5432),
        PGUSER=server.username or "postgres",
        PGPASSWORD=server.password or "",
        PGDATABASE=database,
        SHOP_SCHEMA=PG_SCHEMA,
    )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def project(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Project]:
    """The example built once: `dbt run --empty` first (which trains nothing), then
    `dbt build`."""
    folder = tmp_path_factory.mktemp(f"dbt_{request.param}") / "shop"
    _copy_example(folder)
    if request.param == "duckdb":
        database = str(folder / "shop.duckdb")
        env = _environment(SHOP_DUCKDB=database)
    else:
        database = _postgres_database(PG_DATABASE, with_sqlml=True)
        env = _postgres_env(PG_DATABASE)
    built = Project(folder, request.param, env, database)
    built.dbt("deps")
    built.dbt("seed")
    built.recorded["empty"] = built.dbt("run", "--empty", "--select", "+repeat_buyer")
    with built.sqlml() as con:
        built.recorded["models after --empty"] = con.execute("SHOW MODELS").fetchall()
        built.recorded["card after --empty"] = con.execute(
            f'SELECT count(*) FROM "{built.schema}"."repeat_buyer"'
        ).fetchall()
    built.recorded["build"] = built.dbt("build")
    yield built
    if request.param == "postgres":
        with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(PG_DATABASE)
                )
            )


def test_empty_run_builds_the_nodes_and_trains_nothing(project: Project):
    assert "is not trained under --empty" in project.recorded["empty"]
    assert project.recorded["models after --empty"] == []
    assert project.recorded["card after --empty"] == [(0,)]


def test_build_trains_each_model_and_writes_its_card(project: Project):
    labels = project.rows(f'SELECT count(*) FROM "{project.schema}"."purchase_labels"')[0][0]
    for node, metric, rows in (("repeat_buyer", "roc_auc", labels), ("order_amount", "r2", 3165)):
        card = project.card(node)
        with project.sqlml() as con:
            (model,) = [m for m in con.execute("SHOW MODELS").fetchall() if m[0] == card["model"]]
        assert card["model"] == project.name(node)
        assert card["version"] == model[1] == project.versions(node)[1]
        assert (card["algorithm"], card["metric"]) == ("lightgbm", metric) == (model[3], model[5])
        assert card["metric_value"] == pytest.approx(model[6])
        assert card["rows"] == rows
        assert card["trained_at"] is not None and len(card["fingerprint"]) == 32
    # The shipped tests ran against the trained models and passed.
    assert "PASS sqlml_sqlml_metric_at_least_repeat_buyer_roc_auc" in project.recorded["build"]
    assert project.card("repeat_buyer")["metric_value"] >= 0.7


def test_scored_tables_equal_predict_run_by_hand(project: Project):
    s = project.schema
    scored = project.rows(
        f'SELECT customer_id, will_repeat, p_repeat, model_version FROM "{s}".scored_customers '
        "ORDER BY customer_id"
    )
    by_hand = project.rows(
        f'SELECT customer_id, PREDICT("{s}".repeat_buyer, c.*), '
        f'PREDICT_PROBA("{s}".repeat_buyer, c.*) FROM (SELECT customer_id, '
        f"CAST('{LABEL_TIME}' AS TIMESTAMP) AS label_time FROM \"{s}\".stg_customers) AS c "
        "ORDER BY customer_id"
    )
    assert len(scored) == len(by_hand) == 400
    assert [row[:2] for row in scored] == [row[:2] for row in by_hand]
    assert [row[2] for row in scored] == pytest.approx([row[2] for row in by_hand], abs=1e-9)
    assert {row[3] for row in scored} == {project.versions("repeat_buyer")[1]}
    assert {row[1] for row in scored} == {True, False}

    orders = project.rows(
        f'SELECT order_id, expected_amount FROM "{s}".scored_orders ORDER BY order_id'
    )
    orders_by_hand = project.rows(
        f'SELECT o.order_id, PREDICT("{s}".order_amount, b.*) FROM "{s}".stg_orders AS o '
        f'JOIN (SELECT o.order_id, o.items, c.channel, c.region, c.age FROM "{s}".stg_orders o '
        f'JOIN "{s}".stg_customers c USING (customer_id)) AS b USING (order_id) ORDER BY 1'
    )
    assert len(orders) == 3165
    assert [row[0] for row in orders] == [row[0] for row in orders_by_hand]
    assert [row[1] for row in orders] == pytest.approx([row[1] for row in orders_by_hand])


def test_predict_proba_macro_equals_predict_proba_by_hand(project: Project):
    """A classifier on plain columns, scored in a view by sqlml.predict_proba and
    sqlml.predict."""
    models = project.folder / "models"
    (models / "big_basket.sql").write_text(
        "{{ config(materialized='sqlml_model', target='big', options={'n_estimators': 20}) }}\n"
        "select items > 4 as big, amount from {{ ref('stg_orders') }}"
    )
    (models / "basket_scores.sql").write_text(
        "{{ config(materialized='view') }}\n"
        "with orders as (select * from {{ ref('stg_orders') }})\n"
        "select o.order_id, {{ sqlml.predict(ref('big_basket'), 'o') }} as big,\n"
        "  {{ sqlml.predict_proba(ref('big_basket'), 'o') }} as p_big from orders as o"
    )
    try:
        project.dbt("run", "--select", "+basket_scores")
        s = project.schema
        scored = project.rows(f'SELECT order_id, big, p_big FROM "{s}".basket_scores ORDER BY 1')
        by_hand = project.rows(
            f'SELECT order_id, PREDICT("{s}".big_basket, o.*), PREDICT_PROBA("{s}".big_basket, '
            f'o.*) FROM "{s}".stg_orders AS o ORDER BY 1'
        )
    finally:
        for name in ("big_basket", "basket_scores"):
            (models / f"{name}.sql").unlink()
    assert len(scored) == 3165
    assert [row[:2] for row in scored] == [row[:2] for row in by_hand]
    assert [row[2] for row in scored] == pytest.approx([row[2] for row in by_hand], abs=1e-9)
    assert all(0 <= row[2] <= 1 for row in scored)


def test_manifest_has_the_lineage_and_the_docs_catalog_the_cards(project: Project):
    project.dbt("docs", "generate")
    catalog = json.loads((project.folder / "target" / "catalog.json").read_text())["nodes"]
    card = {name.lower() for name in catalog["model.shop.repeat_buyer"]["columns"]}
    assert {"model", "version", "metric_value", "rows", "fingerprint"} <= card
    assert "model.shop.customer_features" in catalog
    nodes = project.manifest()["nodes"]

    def upstream(node: str) -> set[str]:
        return {
            name.rpartition(".")[2] for name in nodes[f"model.shop.{node}"]["depends_on"]["nodes"]
        }

    assert upstream("scored_customers") >= {"repeat_buyer", "stg_customers"}
    assert upstream("repeat_buyer") == {"purchase_labels", "customer_features"}
    assert upstream("scored_orders") >= {"order_amount", "stg_orders"}
    assert nodes["model.shop.repeat_buyer"]["config"]["materialized"] == "sqlml_model"
    assert nodes["model.shop.customer_features"]["config"]["materialized"] == (
        "sqlml_feature_table"
    )


def test_second_build_with_nothing_changed_does_not_retrain(project: Project):
    before = {node: project.versions(node) for node in ("repeat_buyer", "order_amount")}
    output = project.dbt("build")
    assert output.count("not retrained") == 2
    assert {node: project.versions(node) for node in before} == before
    assert "feature table" in output and "0 added" in output  # REFRESH, nothing new


def test_incremental_run_scores_only_new_rows(project: Project):
    s = project.schema
    before = dict(project.rows(f'SELECT customer_id, scored_at FROM "{s}".scored_customers'))
    with project.sqlml() as con:
        con.execute(
            f'INSERT INTO "{s}".customers SELECT customer_id + 1000, signup_date, region, '
            f'channel, age FROM "{s}".customers WHERE customer_id <= 3'
        )
    try:
        project.dbt("run", "--select", "scored_customers")
        after = dict(project.rows(f'SELECT customer_id, scored_at FROM "{s}".scored_customers'))
        assert set(after) == set(before) | {1001, 1002, 1003}
        assert all(after[key] == scored_at for key, scored_at in before.items())
        assert all(after[key] > max(before.values()) for key in (1001, 1002, 1003))
    finally:
        with project.sqlml() as con:
            for table in ("customers", "scored_customers"):
                con.execute(f'DELETE FROM "{s}".{table} WHERE customer_id > 1000')


def test_changed_config_retrains_and_the_incremental_model_rescores(project: Project):
    versions, in_use = project.versions("repeat_buyer")
    project.edit("models/repeat_buyer.sql", "'num_leaves': 15", "'num_leaves': 7")
    output = project.dbt("build", "--select", "repeat_buyer+")
    assert "not retrained" not in output
    after, now_in_use = project.versions("repeat_buyer")
    assert len(after) == len(versions) + 1 and now_in_use == max(after) > in_use
    assert project.card("repeat_buyer")["version"] == now_in_use
    s = project.schema
    assert project.rows(f'SELECT DISTINCT model_version FROM "{s}".scored_customers') == [
        (now_in_use,)
    ]


def test_a_model_dropped_by_hand_is_trained_again(project: Project):
    card = project.card("order_amount")
    with project.sqlml() as con:
        con.execute(f'DROP MODEL "{project.schema}"."order_amount"')
    output = project.dbt("run", "--select", "order_amount")
    assert "not retrained" not in output
    assert project.versions("order_amount")[1] == project.card("order_amount")["version"]
    assert project.card("order_amount")["fingerprint"] == card["fingerprint"]


def test_full_refresh_retrains(project: Project):
    versions, in_use = project.versions("order_amount")
    project.dbt("run", "--select", "order_amount", "--full-refresh")
    after, now_in_use = project.versions("order_amount")
    assert len(after) == len(versions) + 1 and now_in_use > in_use


def test_failed_training_fails_the_node_and_keeps_the_version_serving(project: Project):
    before, card = project.versions("order_amount"), project.card("order_amount")
    project.edit("models/schema.yml", "target: amount", "target: no_such_column")
    try:
        output = project.dbt("run", "--select", "order_amount", ok=False)
    finally:
        project.edit("models/schema.yml", "target: no_such_column", "target: amount")
    assert "model order_amount" in output
    assert "target column 'no_such_column' is not among the query's columns" in output
    assert project.versions("order_amount") == before
    assert project.card("order_amount") == card
    scored = project.rows(f'SELECT count(*) FROM "{project.schema}".scored_orders')
    assert scored == [(3165,)]


BAD_NODES = {
    "no_target": (
        "{{ config(materialized='sqlml_model', using='lightgbm') }}\n"
        "select amount, items from {{ ref('stg_orders') }}",
        "materialized='sqlml_model' needs target: add target='...' to the node's config()",
    ),
    "unknown_option": (
        "{{ config(materialized='sqlml_model', target='amount', options={'num_leavs': 7}) }}\n"
        "select amount, items from {{ ref('stg_orders') }}",
        "num_leavs",
    ),
    "predict_of_a_table": (
        "select {{ sqlml.predict(ref('stg_orders'), 'o') }} as p from {{ ref('stg_orders') }} o",
        "is not a sqlml_model node (materialized='view')",
    ),
    "unknown_setting": (
        "{{ config(materialized='sqlml_model', meta={'sqlml': {'target': 'amount', "
        "'algorithm': 'x'}}) }}\nselect amount, items from {{ ref('stg_orders') }}",
        "meta.sqlml has no setting algorithm",
    ),
}


def test_bad_nodes_fail_saying_what_to_change(project: Project):
    for node, (text, _) in BAD_NODES.items():
        (project.folder / "models" / f"bad_{node}.sql").write_text(text)
    try:
        output = project.dbt("run", "--select", *(f"bad_{node}" for node in BAD_NODES), ok=False)
    finally:
        for node in BAD_NODES:
            (project.folder / "models" / f"bad_{node}.sql").unlink()
    for node, (_, message) in BAD_NODES.items():
        assert f"in model bad_{node} (models/bad_{node}.sql)" in output, node
        assert message in output, node
    if project.engine == "postgres":  # sqlml's close matches come with its error
        assert "Did you mean: num_leaves" in output
    with project.sqlml() as con:
        names = [row[0] for row in con.execute("SHOW MODELS").fetchall()]
    assert not any(name.startswith(f"{project.schema}.bad_") for name in names)


def test_a_target_without_sqlml_says_what_to_do(project: Project, tmp_path):
    profiles = (project.folder / "profiles.yml").read_text()
    if project.engine == "duckdb":
        bare = profiles.replace(
            "  outputs:\n",
            f"  outputs:\n    bare:\n      type: duckdb\n      path: {tmp_path / 'bare.duckdb'}\n",
        )
        expected = ["has no sqlml plugin", "- module: sqlml.integrations.dbt_duckdb"]
    else:
        _postgres_database("sqlml_t_dbt_bare", with_sqlml=False)
        bare = profiles.replace(
            "  outputs:\n",
            "  outputs:\n    bare:\n      type: postgres\n      host: \"{{ env_var('PGHOST') }}\"\n"
            "      port: \"{{ env_var('PGPORT') | as_number }}\"\n"
            "      user: \"{{ env_var('PGUSER') }}\"\n      password: ''\n"
            "      dbname: sqlml_t_dbt_bare\n      schema: shop\n",
        )
        expected = ["sqlml is not installed in database sqlml_t_dbt_bare", "sqlml install"]
    (project.folder / "profiles.yml").write_text(bare)
    try:
        output = project.dbt("run", "--select", "stg_orders", ok=False, target="bare")
    finally:
        (project.folder / "profiles.yml").write_text(profiles)
    for message in expected:
        assert message in output
