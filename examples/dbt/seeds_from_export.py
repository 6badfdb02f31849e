"""Writes this project's raw seeds from an export healthscore generated, in
the raw systems' own words (the CRM's, billing's, the product's, the help
desk's), so that the models have real work to do:

    healthscore generate --out /tmp/raw --accounts 60 --months 8 --export-date 2026-11-01
    python seeds_from_export.py /tmp/raw seeds/

Needs `duckdb` (dbt-duckdb brings it).
"""

import pathlib
import sys

import duckdb

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)

SEEDS = {
    "raw_crm_companies": ("accounts", """
        account_id as company_id, name as company_name, segment as size_band, industry as vertical,
        plan as plan_name, seats_licensed as seats, arr as annual_value, contract_start as customer_since,
        renewal_date as next_renewal, owner_email as csm_email, crm_id as hubspot_id"""),
    "raw_billing_subscriptions": ("subscriptions", """
        subscription_id as sub_id, account_id as company_id, plan as plan_name, start_date as starts_on,
        end_date as ends_on, mrr as monthly_amount, seats"""),
    "raw_billing_invoices": ("invoices", """
        invoice_id as invoice_no, account_id as company_id, issued_at as issued_on, due_date as due_on,
        paid_at as paid_on, amount as amount_usd"""),
    "raw_product_events": ("usage", """
        account_id as company_id, user_id as user_ref, date as event_day, feature as feature_key, events as event_count"""),
    "raw_helpdesk_tickets": ("tickets", """
        ticket_id as ticket_ref, account_id as company_id, created_at as opened_at, resolved_at as closed_at,
        priority as priority_label, status as state, csat as satisfaction, subject"""),
    "raw_survey_nps": ("nps", """
        account_id as company_id, contact_id as respondent, responded_at as answered_on, score as nps_score"""),
}

con = duckdb.connect()
for seed, (table, cols) in SEEDS.items():
    files = str(src / table / "**" / "*.parquet")
    con.execute(f"copy (select {cols} from read_parquet('{files}') order by 1, 3) to '{out / (seed + '.csv')}' (header)")
    n = con.execute(f"select count(*) from read_csv('{out / (seed + '.csv')}')").fetchone()[0]
    print(f"{seed}.csv: {n} rows from {table}")
