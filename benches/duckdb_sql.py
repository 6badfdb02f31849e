"""Runs healthscore's feature SQL (sql/features/<version>, v1 unless
HEALTHSCORE_FEATURES names another) with DuckDB — the yardstick for
`healthscore features` and the SQL half of the Python stack.

The views are the same files; a few DataFusion spellings are translated to
DuckDB's (day numbers, generate_series's column, regexp_like, first_value as
an aggregate). Run order is the one healthscore uses (read from the files'
references). The set's `vocabulary` (features.yaml) becomes the table the
v2 and v4 SQL reads; a `cached` view is an ordinary view here, over every
file at once (no cache: what the SQL costs without one).
"""
import os
import re

import duckdb
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SQL = os.path.join(HERE, "..", "sql", "features", os.environ.get("HEALTHSCORE_FEATURES", "v1"))
# the optional columns of the contract (src/contract.rs) the SQL reads
OPTIONAL = {
    "accounts": [("owner_email", "VARCHAR")],
    "usage": [("user_id", "VARCHAR"), ("events", "DOUBLE")],
    "tickets": [("csat", "DOUBLE"), ("subject", "VARCHAR"), ("body", "VARCHAR")],
    "nps": [("contact_id", "VARCHAR"), ("comment", "VARCHAR")],
    "activities": [("contact_id", "VARCHAR"), ("direction", "VARCHAR"), ("body", "VARCHAR")],
    "contacts": [("title", "VARCHAR"), ("is_champion", "BOOLEAN"), ("is_exec_sponsor", "BOOLEAN")],
    "subscriptions": [("term_months", "DOUBLE")],
}
TABLES = ["accounts", "usage", "tickets", "invoices", "nps", "activities", "contacts", "subscriptions", "outcomes", "overrides"]


def translate(sql: str) -> str:
    sql = sql.replace("CAST(g.value AS INT)", "CAST(g.value AS INTEGER)")
    sql = sql.replace("12.0) AS INT)", "12.0) AS INTEGER)")  # v2's term_days: a number, not a day
    sql = re.sub(r"generate_series\((\d+), (\d+)\) AS g", r"generate_series(\1, \2) AS g(value)", sql)
    sql = re.sub(r"CAST\((.+?) AS INT\)", r"daynum(\1)", sql)
    sql = sql.replace("regexp_like(", "regexp_matches(")
    sql = sql.replace("first_value(", "first(")
    return sql


def order(files):
    views = {f[:-4]: open(os.path.join(SQL, f)).read() for f in files}
    done, out = set(), []
    while len(out) < len(views):
        for name in sorted(views):
            if name in done:
                continue
            refs = {r for r in views if r != name and re.search(rf"\b{r}\b", views[name])}
            if refs <= done:
                done.add(name)
                out.append((name, views[name]))
    return out


def connect(data_dir: str, threads: int = 2):
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    con.execute("SET TimeZone='UTC'")
    con.execute("CREATE MACRO daynum(d) AS CAST(date_diff('day', DATE '1970-01-01', CAST(d AS DATE)) AS INTEGER)")
    for t in TABLES:
        path = os.path.join(data_dir, t)
        src = f"read_parquet('{path}/*.parquet')"
        have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
        # the contract's optional columns an export may leave out read as null, as in healthscore
        missing = [f"NULL::{ty} AS {c}" for c, ty in OPTIONAL.get(t, []) if c not in have]
        con.execute(f"CREATE VIEW {t} AS SELECT *{''.join(', ' + m for m in missing)} FROM {src}")
    if not os.path.isdir(os.path.join(data_dir, "account_history")):
        # optional in the contract, absent from the generator's export: empty, as healthscore registers it
        con.execute("CREATE VIEW account_history AS SELECT NULL::VARCHAR AS account_id, NULL::DATE AS valid_from, NULL::VARCHAR AS segment, NULL::VARCHAR AS industry WHERE false")
    return con


def features(con, dates, export_date="2026-11-01", grace=30, share=0.1, horizon=90):
    con.execute("CREATE OR REPLACE TABLE snapshot_dates AS SELECT CAST(d AS DATE) AS as_of FROM (VALUES " + ", ".join(f"('{d}')" for d in dates) + ") t(d)")
    con.execute(f"CREATE OR REPLACE TABLE run_params AS SELECT DATE '{export_date}' AS export_date, {grace} AS churn_grace_days, {share} AS expansion_share, {horizon} AS expansion_horizon")
    spec = os.path.join(SQL, "features.yaml")
    vocabulary = yaml.safe_load(open(spec)).get("vocabulary") or {}
    rows = [(rel, term, role) for rel, roles in vocabulary.items() for role, terms in roles.items() for term in terms]
    con.execute("CREATE OR REPLACE TABLE vocabulary (relation VARCHAR, term VARCHAR, role VARCHAR)")
    if rows:
        con.executemany("INSERT INTO vocabulary VALUES (?, ?, ?)", rows)
    files = [f for f in os.listdir(SQL) if f.endswith(".sql")]
    for name, sql in order(files):
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {translate(sql)}")
    return con.sql("SELECT * FROM account_features ORDER BY as_of, account_id").to_arrow_table()


if __name__ == "__main__":
    import sys
    import time

    data, dates = sys.argv[1], sys.argv[2].split(",")
    t = time.perf_counter()
    con = connect(data)
    tbl = features(con, dates)
    print(f"duckdb {duckdb.__version__}: {tbl.num_rows} rows × {tbl.num_columns - 2} features over {len(dates)} date(s) in {time.perf_counter() - t:.2f}s")
