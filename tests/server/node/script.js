// node-postgres against `sqlml serve`: node script.js PORT
// Prints one JSON object; tests/server/test_serve_jdbc.py checks it.
"use strict";

const { Client } = require("pg");

async function main() {
  const client = new Client({
    host: "127.0.0.1",
    port: Number(process.argv[2]),
    user: "tester",
    database: "shop",
  });
  await client.connect();
  const out = {};
  try {
    // A catalog-free query: the simple protocol.
    const plain = await client.query("SELECT 42 AS answer, 'héllo' AS greeting");
    out.plain = plain.rows;
    // Parameters: Parse (no parameter types), Bind with text values, Describe, Execute.
    const params = await client.query("SELECT $1::INTEGER + 1 AS n, $2::VARCHAR || '!' AS s", [
      41,
      "it's",
    ]);
    out.params = params.rows;
    // A named prepared statement, parsed once and bound again.
    out.named = [];
    for (const i of [1, 2, 3]) {
      const named = await client.query({
        name: "double",
        text: "SELECT $1::INTEGER * 2 AS doubled",
        values: [i],
      });
      out.named.push(named.rows[0].doubled);
    }
    try {
      await client.query("SELECT * FROM no_such_table");
      out.error = null;
    } catch (error) {
      out.error = error.code;
    }
    out.after_error = (await client.query("SELECT 1 AS one")).rows;
  } finally {
    await client.end();
  }
  console.log(JSON.stringify(out));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
