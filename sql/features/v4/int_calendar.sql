-- The 60 days before each snapshot date, one row per (as_of, day). Usage is
-- matched to snapshots through an equi-join on `day` with this small table,
-- instead of a range join that would pair every usage row with every snapshot.
SELECT
    d.as_of,
    CAST(d.as_of AS INT) - CAST(g.value AS INT) AS day,
    CAST(g.value AS INT) AS days_before
FROM snapshot_dates d
CROSS JOIN generate_series(1, 60) AS g
