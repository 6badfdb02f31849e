"""Runs healthscore's feature SQL (sql/features/v1) with DuckDB — the
yardstick for `healthscore features` and the SQL half of the Python stack.

The views are the same files; a few DataFusion spellings are translated to
DuckDB's (day numbers, generate_series's column, regexp_like, first_value as
an aggregate). Run order is the one healthscore uses (read from the files'
references).
"""
import os
import re

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
SQL = os.path.join(HERE, "..", "sql", "features", "v1")
TABLES = ["accounts", "usage", "tickets", "invoices", "nps", "activities", "contacts", "subscriptions", "outcomes", "overrides"]


def translate(sql: str) -> str:
    sql = sql.replace("CAST(g.value AS INT)", "CAST(g.value AS INTEGER)")
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
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}/*.parquet')")
    return con


def features(con, dates, export_date="2026-11-01", grace=30, share=0.1, horizon=90):
    con.execute("CREATE OR REPLACE TABLE snapshot_dates AS SELECT CAST(d AS DATE) AS as_of FROM (VALUES " + ", ".join(f"('{d}')" for d in dates) + ") t(d)")
    con.execute(f"CREATE OR REPLACE TABLE run_params AS SELECT DATE '{export_date}' AS export_date, {grace} AS churn_grace_days, {share} AS expansion_share, {horizon} AS expansion_horizon")
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
