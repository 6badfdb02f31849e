-- One row per (account_id, as_of): every feature the models read. Counts
-- with no rows are 0; trends are null for accounts younger than 60 days,
-- whose prior window predates them; "days since" features are capped.
SELECT
    s.account_id,
    s.as_of,
    -- usage
    coalesce(uu.active_users_30d, 0) AS active_users_30d,
    CASE WHEN c.tenure_days >= 60 THEN
        (coalesce(uu.active_users_30d, 0) - coalesce(uu.active_users_prev30, 0)) / greatest(coalesce(uu.active_users_prev30, 0), 1.0)
    END AS active_users_trend,
    coalesce(uu.logins_30d, 0) AS logins_30d,
    CASE WHEN c.tenure_days >= 60 THEN
        (coalesce(uu.logins_30d, 0) - coalesce(uu.logins_prev30, 0)) / greatest(coalesce(uu.logins_prev30, 0), 1.0)
    END AS logins_trend,
    CASE WHEN c.tenure_days >= 60 THEN
        (coalesce(uu.product_events_30d, 0) - coalesce(uu.product_events_prev30, 0)) / greatest(coalesce(uu.product_events_prev30, 0), 1.0)
    END AS events_trend,
    CASE WHEN c.tenure_days >= 60 AND coalesce(uu.api_events_prev30, 0) > 0 THEN
        (coalesce(uu.api_events_30d, 0) - uu.api_events_prev30) / uu.api_events_prev30
    END AS api_events_trend,
    coalesce(uu.product_events_30d, 0) / greatest(coalesce(uu.active_users_30d, 0), 1.0) AS events_per_active_user_30d,
    least(coalesce(uu.days_since_last_activity, 61), greatest(c.tenure_days, 1)) AS days_since_last_activity,
    coalesce(uu.api_events_30d, 0) / greatest(coalesce(uu.events_30d, 0), 1.0) AS api_share_30d,
    -- adoption
    CASE WHEN c.seats > 0 THEN coalesce(uu.active_users_30d, 0) / c.seats END AS seat_utilization,
    coalesce(uf.feature_breadth_30d, 0) AS feature_breadth_30d,
    CASE WHEN c.tenure_days >= 60 THEN
        (coalesce(uf.feature_breadth_30d, 0) - coalesce(uf.feature_breadth_prev30, 0)) / greatest(coalesce(uf.feature_breadth_prev30, 0), 1.0)
    END AS feature_breadth_trend,
    CASE WHEN c.tenure_days >= 60 THEN coalesce(uf.areas_stopped_30d, 0) END AS areas_stopped_30d,
    CASE WHEN c.tenure_days >= 60 THEN uf.areas_stopped END AS areas_stopped,
    -- support
    coalesce(sp.tickets_90d, 0) AS tickets_90d,
    coalesce(sp.tickets_30d, 0) / (coalesce(sp.tickets_prior_60d, 0) / 2.0 + 0.5) AS ticket_spike_ratio,
    CASE WHEN coalesce(sp.tickets_90d, 0) > 0 THEN sp.high_priority_90d / CAST(sp.tickets_90d AS DOUBLE) ELSE 0 END AS high_priority_share_90d,
    coalesce(sp.open_tickets, 0) AS open_tickets,
    sp.resolution_hours_90d,
    sp.csat_avg_90d,
    coalesce(sp.cancel_intent_90d, 0) AS cancel_intent_90d,
    coalesce(sp.negative_wording_90d, 0) AS negative_wording_90d,
    -- payment
    coalesce(b.late_invoices_180d, 0) AS late_invoices_180d,
    coalesce(b.days_overdue_max, 0) AS days_overdue_max,
    coalesce(b.overdue_amount_share, 0) AS overdue_amount_share,
    -- engagement
    n.nps_latest,
    n.nps_latest - n.nps_before AS nps_change,
    coalesce(n.nps_detractors_180d, 0) AS nps_detractors_180d,
    least(coalesce(e.days_since_csm_touch, 366), 366) AS days_since_csm_touch,
    coalesce(e.touches_90d, 0) AS touches_90d,
    coalesce(e.meetings_90d, 0) AS meetings_90d,
    coalesce(e.qbr_last_120d, 0) AS qbr_last_120d,
    least(coalesce(e.days_since_qbr, 366), 366) AS days_since_qbr,
    coalesce(e.exec_sponsor_touches_90d, 0) AS exec_sponsor_touches_90d,
    coalesce(e.engaged_contacts_90d, 0) AS engaged_contacts_90d,
    coalesce(r.champion_left_90d, 0) AS champion_left_90d,
    coalesce(r.has_active_champion, 0) AS has_active_champion,
    -- commercial context
    c.tenure_days,
    c.days_to_renewal,
    c.arr,
    c.seats,
    c.arr_change_180d,
    c.plan,
    c.segment
FROM snapshots s
JOIN int_commercial c ON c.account_id = s.account_id AND c.as_of = s.as_of
LEFT JOIN int_usage_users uu ON uu.account_id = s.account_id AND uu.as_of = s.as_of
LEFT JOIN int_usage_features uf ON uf.account_id = s.account_id AND uf.as_of = s.as_of
LEFT JOIN int_support sp ON sp.account_id = s.account_id AND sp.as_of = s.as_of
LEFT JOIN int_billing b ON b.account_id = s.account_id AND b.as_of = s.as_of
LEFT JOIN int_nps n ON n.account_id = s.account_id AND n.as_of = s.as_of
LEFT JOIN int_engagement e ON e.account_id = s.account_id AND e.as_of = s.as_of
LEFT JOIN int_relationships r ON r.account_id = s.account_id AND r.as_of = s.as_of
