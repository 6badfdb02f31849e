-- Finance's rollup of `renewal_forecast` (one row per account renewing
-- within the window): per renewal month × segment, per month across
-- segments (segment 'all') and in total (month 'all'). A data team may
-- change this file; the job runs it over the per-account rows and adds the
-- P10/P50/P90 of renewed ARR for the same groups.
SELECT
    coalesce(renewal_month, 'all') AS renewal_month,
    coalesce(segment, 'all') AS segment,
    count(*) AS accounts,
    sum(arr) AS arr,
    sum(expected_arr) AS expected_arr,
    sum(arr_at_risk) AS arr_at_risk,
    1 - sum(arr_at_risk) / sum(arr) AS gross_retention,
    sum(expected_arr) / sum(arr) AS net_retention,
    sum(expected_arr_with_saves) AS expected_arr_with_saves
FROM renewal_forecast
GROUP BY GROUPING SETS ((renewal_month, segment), (renewal_month), ())
ORDER BY renewal_month, segment
