-- Reference query for benchmarks/bench_features.py: the cash-flow (cf_*) and repayment (rep_*)
-- features of research.features for ONE snapshot, written independently in plain SQL (DuckDB).
--
-- Parameter: $snapshot, a TIMESTAMP at midnight on the first day of a month (the month
-- arithmetic of the monthly net flow below relies on that). Settings as in params.yaml:
-- windows 3, 6 and 12 months, trend 3 months against the 3 before, DPD thresholds
-- 30, 60 and 90 days, default at 90 days past due.
-- Rows: customers onboarded before the snapshot, not gone before it, not in default.
-- Peer-relative step (research.features.peers): the digital share of movements is reported
-- as its percentile rank among the rows with a value (ties share their mean rank), and the
-- months since the last late instalment only within the longest window (12 months).
--
-- Aggregates (one column each, named as in the panel):
--   cash flow  cf_inflow_amount_{3,6,12}m, cf_outflow_amount_{3,6,12}m, cf_inflow_count_{3,6,12}m,
--              cf_outflow_count_{3,6,12}m, cf_inflow_outflow_ratio_{3,6,12}m, cf_days_since_inflow,
--              cf_days_since_outflow, cf_net_flow_std_12m, cf_net_flow_volatility_12m,
--              cf_inflow_trend, cf_digital_share_book_rank_12m, cf_active_months_12m
--   repayment  rep_instalments_due_{3,6,12}m, rep_on_time_share_{3,6,12}m, rep_mean_dpd_{3,6,12}m,
--              rep_max_dpd_{3,6,12}m, rep_dpd{30,60,90}_count_12m, rep_months_since_late,
--              rep_arrears_amount, rep_overdue_instalments, rep_current_dpd, rep_dpd_trend
WITH
params AS (
    SELECT $snapshot::TIMESTAMP AS s
),
first_default AS (
    SELECT customer_id, min(due_date + INTERVAL 90 DAY) AS default_date
    FROM repayments
    WHERE paid_date IS NULL OR paid_date >= due_date + INTERVAL 90 DAY
    GROUP BY customer_id
),
panel AS (
    SELECT c.customer_id, c.onboarding_date
    FROM customers AS c
    CROSS JOIN params AS p
    LEFT JOIN first_default AS d ON d.customer_id = c.customer_id
    WHERE c.onboarding_date < p.s
      AND (c.relationship_end_date IS NULL OR c.relationship_end_date >= p.s)
      AND (d.default_date IS NULL OR d.default_date >= p.s)
),
tx AS (
    SELECT t.customer_id,
           t."timestamp" AS ts,
           t.amount,
           t.channel IN ('online_banking', 'mobile_app', 'host_to_host') AS digital,
           -- month k before the snapshot: [s - k months, s - k + 1 months)
           date_diff('month', date_trunc('month', t."timestamp"), p.s) AS k
    FROM transactions AS t
    CROSS JOIN params AS p
    WHERE t."timestamp" < p.s
),
cash AS (
    SELECT customer_id,
           sum(amount) FILTER (amount > 0 AND k <= 3) AS in3,
           sum(amount) FILTER (amount > 0 AND k <= 6) AS in6,
           sum(amount) FILTER (amount > 0 AND k <= 12) AS in12,
           sum(amount) FILTER (amount > 0 AND k BETWEEN 4 AND 6) AS in_before3,
           -sum(amount) FILTER (amount < 0 AND k <= 3) AS out3,
           -sum(amount) FILTER (amount < 0 AND k <= 6) AS out6,
           -sum(amount) FILTER (amount < 0 AND k <= 12) AS out12,
           count(*) FILTER (amount > 0 AND k <= 3) AS n_in3,
           count(*) FILTER (amount > 0 AND k <= 6) AS n_in6,
           count(*) FILTER (amount > 0 AND k <= 12) AS n_in12,
           count(*) FILTER (amount < 0 AND k <= 3) AS n_out3,
           count(*) FILTER (amount < 0 AND k <= 6) AS n_out6,
           count(*) FILTER (amount < 0 AND k <= 12) AS n_out12,
           max(ts) FILTER (amount > 0) AS last_in,
           max(ts) FILTER (amount < 0) AS last_out,
           (count(*) FILTER (digital AND k <= 12))::DOUBLE
               / nullif(count(*) FILTER (k <= 12), 0) AS digital_share
    FROM tx
    GROUP BY customer_id
),
monthly AS (
    SELECT customer_id, k, sum(amount) AS net
    FROM tx
    WHERE k <= 12
    GROUP BY customer_id, k
),
months AS (
    -- months counted for the volatility: those ending after onboarding
    SELECT pa.customer_id, r.k
    FROM panel AS pa
    CROSS JOIN params AS p
    CROSS JOIN range(1, 13) AS r(k)
    WHERE p.s - to_months(CAST(r.k - 1 AS INTEGER)) > pa.onboarding_date
),
net_flow AS (
    SELECT m.customer_id,
           stddev_samp(coalesce(f.net, 0)) AS net_std,
           count(*) AS n_months
    FROM months AS m
    LEFT JOIN monthly AS f ON f.customer_id = m.customer_id AND f.k = m.k
    GROUP BY m.customer_id
),
active AS (
    SELECT customer_id, count(*) AS active_months FROM monthly GROUP BY customer_id
),
instalments AS (
    SELECT r.customer_id,
           r.due_date,
           r.paid_date IS NOT NULL AND r.paid_date <= r.due_date AS on_time,
           CASE WHEN r.paid_date < p.s THEN greatest(date_diff('day', r.due_date, r.paid_date), 0)
                ELSE date_diff('day', r.due_date, p.s) END AS dpd,
           r.paid_date IS NULL OR r.paid_date >= p.s AS unpaid,
           CASE WHEN r.paid_date < p.s THEN greatest(r.amount_due - coalesce(r.amount_paid, r.amount_due), 0)
                ELSE r.amount_due END AS owed,
           r.due_date >= p.s - INTERVAL 3 MONTH AS in3,
           r.due_date >= p.s - INTERVAL 6 MONTH AS in6,
           r.due_date >= p.s - INTERVAL 12 MONTH AS in12
    FROM repayments AS r
    CROSS JOIN params AS p
    WHERE r.due_date < p.s
),
repay AS (
    SELECT customer_id,
           count(*) FILTER (in3) AS due3,
           count(*) FILTER (in6) AS due6,
           count(*) FILTER (in12) AS due12,
           avg(on_time::DOUBLE) FILTER (in3) AS on_time3,
           avg(on_time::DOUBLE) FILTER (in6) AS on_time6,
           avg(on_time::DOUBLE) FILTER (in12) AS on_time12,
           avg(dpd) FILTER (in3) AS mean_dpd3,
           avg(dpd) FILTER (in6) AS mean_dpd6,
           avg(dpd) FILTER (in12) AS mean_dpd12,
           max(dpd) FILTER (in3) AS max_dpd3,
           max(dpd) FILTER (in6) AS max_dpd6,
           max(dpd) FILTER (in12) AS max_dpd12,
           count(*) FILTER (in12 AND dpd >= 30) AS dpd30,
           count(*) FILTER (in12 AND dpd >= 60) AS dpd60,
           count(*) FILTER (in12 AND dpd >= 90) AS dpd90,
           max(due_date) FILTER (NOT on_time) AS last_late,
           sum(owed) AS arrears,
           count(*) FILTER (unpaid) AS overdue,
           min(due_date) FILTER (unpaid) AS oldest_unpaid,
           avg(dpd) FILTER (in6 AND NOT in3) AS mean_dpd_before3
    FROM instalments
    GROUP BY customer_id
)
SELECT pa.customer_id,
       coalesce(c.in3, 0) AS cf_inflow_amount_3m,
       coalesce(c.in6, 0) AS cf_inflow_amount_6m,
       coalesce(c.in12, 0) AS cf_inflow_amount_12m,
       coalesce(c.out3, 0) AS cf_outflow_amount_3m,
       coalesce(c.out6, 0) AS cf_outflow_amount_6m,
       coalesce(c.out12, 0) AS cf_outflow_amount_12m,
       coalesce(c.n_in3, 0) AS cf_inflow_count_3m,
       coalesce(c.n_in6, 0) AS cf_inflow_count_6m,
       coalesce(c.n_in12, 0) AS cf_inflow_count_12m,
       coalesce(c.n_out3, 0) AS cf_outflow_count_3m,
       coalesce(c.n_out6, 0) AS cf_outflow_count_6m,
       coalesce(c.n_out12, 0) AS cf_outflow_count_12m,
       coalesce(c.in3, 0) / nullif(coalesce(c.out3, 0), 0) AS cf_inflow_outflow_ratio_3m,
       coalesce(c.in6, 0) / nullif(coalesce(c.out6, 0), 0) AS cf_inflow_outflow_ratio_6m,
       coalesce(c.in12, 0) / nullif(coalesce(c.out12, 0), 0) AS cf_inflow_outflow_ratio_12m,
       (epoch(p.s) - epoch(c.last_in)) / 86400 AS cf_days_since_inflow,
       (epoch(p.s) - epoch(c.last_out)) / 86400 AS cf_days_since_outflow,
       nf.net_std AS cf_net_flow_std_12m,
       nf.net_std / nullif(coalesce(c.in12, 0) / nf.n_months, 0) AS cf_net_flow_volatility_12m,
       coalesce(c.in3, 0) / nullif(coalesce(c.in_before3, 0), 0) - 1 AS cf_inflow_trend,
       -- percentile rank in (0, 1] among the rows with a share: (smaller + (ties + 1) / 2) / n
       CASE WHEN c.digital_share IS NOT NULL THEN
           (rank() OVER (ORDER BY c.digital_share NULLS LAST) - 1
            + (count(*) OVER (PARTITION BY c.digital_share) + 1) / 2.0)
           / count(c.digital_share) OVER ()
       END AS cf_digital_share_book_rank_12m,
       coalesce(a.active_months, 0) AS cf_active_months_12m,
       coalesce(r.due3, 0) AS rep_instalments_due_3m,
       coalesce(r.due6, 0) AS rep_instalments_due_6m,
       coalesce(r.due12, 0) AS rep_instalments_due_12m,
       r.on_time3 AS rep_on_time_share_3m,
       r.on_time6 AS rep_on_time_share_6m,
       r.on_time12 AS rep_on_time_share_12m,
       r.mean_dpd3 AS rep_mean_dpd_3m,
       r.mean_dpd6 AS rep_mean_dpd_6m,
       r.mean_dpd12 AS rep_mean_dpd_12m,
       r.max_dpd3 AS rep_max_dpd_3m,
       r.max_dpd6 AS rep_max_dpd_6m,
       r.max_dpd12 AS rep_max_dpd_12m,
       coalesce(r.dpd30, 0) AS rep_dpd30_count_12m,
       coalesce(r.dpd60, 0) AS rep_dpd60_count_12m,
       coalesce(r.dpd90, 0) AS rep_dpd90_count_12m,
       CASE WHEN date_diff('day', r.last_late, p.s) / (365.25 / 12) <= 12
            THEN date_diff('day', r.last_late, p.s) / (365.25 / 12) END AS rep_months_since_late,
       coalesce(r.arrears, 0) AS rep_arrears_amount,
       coalesce(r.overdue, 0) AS rep_overdue_instalments,
       coalesce(date_diff('day', r.oldest_unpaid, p.s), 0) AS rep_current_dpd,
       r.mean_dpd3 - r.mean_dpd_before3 AS rep_dpd_trend
FROM panel AS pa
CROSS JOIN params AS p
LEFT JOIN cash AS c ON c.customer_id = pa.customer_id
LEFT JOIN net_flow AS nf ON nf.customer_id = pa.customer_id
LEFT JOIN active AS a ON a.customer_id = pa.customer_id
LEFT JOIN repay AS r ON r.customer_id = pa.customer_id
ORDER BY pa.customer_id
