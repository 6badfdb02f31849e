-- NPS per account and snapshot: the average of the last 180 days' responses,
-- its change against the 180–540 days before, and recent detractors.
SELECT
    s.account_id,
    s.as_of,
    avg(n.score) FILTER (WHERE n.responded_day >= s.as_of_day - 180) AS nps_latest,
    avg(n.score) FILTER (WHERE n.responded_day < s.as_of_day - 180) AS nps_before,
    count(*) FILTER (WHERE n.responded_day >= s.as_of_day - 180 AND n.score <= 6) AS nps_detractors_180d
FROM snapshots s
JOIN stg_nps n
  ON n.account_id = s.account_id
 AND n.responded_day < s.as_of_day
 AND n.responded_day >= s.as_of_day - 540
GROUP BY s.account_id, s.as_of
