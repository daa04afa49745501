// pgjdbc against `sqlml serve`: java -cp postgresql.jar:. SqlmlJdbc PORT
//
// Each check prints lines "check<TAB>value"; a check that throws prints
// "check<TAB>ERROR <SQLState> <message>" and the next one runs, so the Python test
// (tests/server/test_serve_jdbc.py) sees every failure at once. The tables it reads
// (jdbc_customers, jdbc_orders, jdbc_points) are made by that test.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class SqlmlJdbc {
    interface Check {
        void run(Connection conn) throws Exception;
    }

    static void out(String check, Object value) {
        System.out.println(check + "\t" + value);
    }

    static void check(Connection conn, String name, Check body) {
        try {
            body.run(conn);
        } catch (SQLException error) {
            out(name, "ERROR " + error.getSQLState() + " " + oneLine(error.getMessage()));
        } catch (Exception error) {
            out(name, "ERROR " + error.getClass().getName() + " " + oneLine(error.getMessage()));
        } finally {
            try {
                if (!conn.getAutoCommit()) {
                    conn.rollback();
                    conn.setAutoCommit(true);
                }
            } catch (SQLException ignored) {
                // the next check reports a broken connection itself
            }
        }
    }

    static String oneLine(String text) {
        return text == null ? "" : text.replace('\n', ' ').replace('\t', ' ');
    }

    static String cell(ResultSet rs, String column) throws SQLException {
        String value = rs.getString(column);
        return value == null ? "NULL" : value;
    }

    static String row(ResultSet rs, String... columns) throws SQLException {
        List<String> values = new ArrayList<>();
        for (String column : columns) {
            values.add(cell(rs, column));
        }
        return String.join("|", values);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/shop";
        Properties props = new Properties();
        props.setProperty("user", "tester");
        props.setProperty("connectTimeout", "20");
        props.setProperty("socketTimeout", "60");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            out("connected", conn.getMetaData().getDatabaseProductName());
            check(conn, "tables", SqlmlJdbc::tables);
            check(conn, "columns", SqlmlJdbc::columns);
            check(conn, "primary_keys", SqlmlJdbc::primaryKeys);
            check(conn, "schemas", SqlmlJdbc::schemas);
            check(conn, "type_info", SqlmlJdbc::typeInfo);
            check(conn, "imported_keys", SqlmlJdbc::importedKeys);
            check(conn, "index_info", SqlmlJdbc::indexInfo);
            check(conn, "prepared", SqlmlJdbc::prepared);
            check(conn, "fetch_size", SqlmlJdbc::fetchSize);
            check(conn, "typed_row", SqlmlJdbc::typedRow);
            check(conn, "train", SqlmlJdbc::train);
            check(conn, "predict", SqlmlJdbc::predict);
            check(conn, "error", SqlmlJdbc::error);
            check(conn, "after_error", c -> {
                try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 42")) {
                    rs.next();
                    out("after_error", rs.getInt(1));
                }
            });
        }
        out("done", "ok");
    }

    static void tables(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getTables(null, null, "jdbc_%", new String[] {"TABLE", "VIEW"})) {
            while (rs.next()) {
                out("tables", row(rs, "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE"));
            }
        }
    }

    static void columns(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getColumns(null, null, "jdbc_customers", "%")) {
            while (rs.next()) {
                out(
                        "columns",
                        row(rs, "ORDINAL_POSITION", "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE",
                                "COLUMN_SIZE", "DECIMAL_DIGITS", "IS_NULLABLE"));
            }
        }
    }

    static void primaryKeys(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getPrimaryKeys(null, null, "jdbc_customers")) {
            while (rs.next()) {
                out("primary_keys", row(rs, "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"));
            }
        }
    }

    static void schemas(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getSchemas()) {
            while (rs.next()) {
                out("schemas", cell(rs, "TABLE_SCHEM"));
            }
        }
    }

    static void typeInfo(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getTypeInfo()) {
            while (rs.next()) {
                out("type_info", row(rs, "TYPE_NAME", "DATA_TYPE"));
            }
        }
    }

    static void importedKeys(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getImportedKeys(null, null, "jdbc_orders")) {
            while (rs.next()) {
                out(
                        "imported_keys",
                        row(rs, "PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_NAME", "FKCOLUMN_NAME",
                                "KEY_SEQ"));
            }
        }
    }

    static void indexInfo(Connection conn) throws SQLException {
        DatabaseMetaData meta = conn.getMetaData();
        try (ResultSet rs = meta.getIndexInfo(null, null, "jdbc_orders", false, false)) {
            while (rs.next()) {
                out("index_info", row(rs, "INDEX_NAME", "COLUMN_NAME", "NON_UNIQUE"));
            }
        }
    }

    // pgjdbc switches to a named server-side statement after prepareThreshold (5) runs.
    static void prepared(Connection conn) throws SQLException {
        String sql = "SELECT id, name || ? AS tagged FROM jdbc_customers WHERE id > ? ORDER BY id";
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int run = 0; run < 10; run++) {
                ps.setString(1, "#" + run);
                ps.setInt(2, run % 3);
                List<String> got = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        got.add(rs.getInt("id") + ":" + rs.getString("tagged"));
                    }
                }
                out("prepared", run + "=" + String.join(",", got));
            }
            out("prepared_server_side", ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare());
        }
    }

    // With autocommit off and a fetch size, pgjdbc reads through a portal 100 rows at a time.
    static void fetchSize(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try (Statement st = conn.createStatement()) {
            st.setFetchSize(100);
            long expected = 0;
            boolean inOrder = true;
            try (ResultSet rs = st.executeQuery("SELECT range AS n FROM range(1000) ORDER BY n")) {
                while (rs.next()) {
                    inOrder &= rs.getLong(1) == expected;
                    expected++;
                }
            }
            out("fetch_size", expected + " rows, " + (inOrder ? "in order" : "out of order"));
        }
        conn.commit();
    }

    static void typedRow(Connection conn) throws SQLException {
        String sql = "SELECT 7::INTEGER AS i, 12.50::DECIMAL(5, 2) AS d, 'héllo' AS t, "
                + "TIMESTAMP '2024-01-02 03:04:05' AS ts, true AS b, NULL::VARCHAR AS missing";
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            ResultSetMetaData meta = rs.getMetaData();
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                out("typed_columns", meta.getColumnLabel(i) + "|" + meta.getColumnTypeName(i) + "|"
                        + meta.getColumnType(i));
            }
            rs.next();
            BigDecimal d = rs.getBigDecimal("d");
            out("typed_row", rs.getInt("i") + "|" + d.toPlainString() + "|" + rs.getString("t") + "|"
                    + rs.getTimestamp("ts") + "|" + rs.getBoolean("b") + "|" + rs.getString("missing"));
        }
    }

    static void train(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement()) {
            boolean rows = st.execute("CREATE OR REPLACE MODEL jdbc_model USING logistic_regression "
                    + "TARGET y FROM (SELECT x, y FROM jdbc_points)");
            for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
                out("train_notice", oneLine(w.getMessage()));
            }
            if (rows) {
                try (ResultSet rs = st.getResultSet()) {
                    while (rs.next()) {
                        out("train", row(rs, "model", "version", "algorithm"));
                    }
                }
            } else {
                out("train", "no result set");
            }
        }
    }

    // Runs whether or not pgjdbc took the CREATE MODEL's answer: the server trains either way.
    static void predict(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement()) {
            int rows = 0;
            int right = 0;
            try (ResultSet rs = st.executeQuery("SELECT PREDICT(jdbc_model, x) AS p, y FROM jdbc_points")) {
                while (rs.next()) {
                    rows++;
                    if (rs.getBoolean("p") == rs.getBoolean("y")) {
                        right++;
                    }
                }
            }
            out("predict", rows + "|" + right);
        }
    }

    static void error(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.executeQuery("SELECT * FROM no_such_table");
            out("error", "no error");
        } catch (SQLException error) {
            out("error", error.getSQLState());
        }
        try (PreparedStatement ps = conn.prepareStatement("SELECT nosuch FROM jdbc_customers WHERE id = ?")) {
            ps.setInt(1, 1);
            ps.executeQuery();
            out("error_prepared", "no error");
        } catch (SQLException error) {
            out("error_prepared", error.getSQLState());
        }
    }
}
