-- Reference query for benchmarks/bench_features.py: every feature and label of
-- research.features.build_panel for ONE snapshot, written independently in plain SQL (DuckDB).
--
-- Parameters: $snapshot, a TIMESTAMP at midnight on the first day of a month (the month
-- arithmetic below relies on that: month k before the snapshot is [s - k, s - k + 1) months);
-- $end, the first day after the data, where the labels censor.
-- Settings as in params.yaml: windows 3, 6 and 12 months, long window 12 months, trends
-- 3 months against the 3 before, DPD thresholds 30, 60 and 90 days, default at 90 days past
-- due, financial statements overdue after 180 days, label horizon 12 months.
-- Rows: customers onboarded before the snapshot, not gone before it, not in default before it.
-- Point in time: every record counts from its event time strictly before the snapshot
-- (transactions and interactions: timestamp; instalments: due date, their payment: paid date;
-- facilities: origination, closure: close date; facility and account balances: the balance's
-- date; statements: reported date; applications: submitted date, their decision: the later
-- of submitted and decided date).
-- Times: differences are taken in nanoseconds (epoch_ns) and divided by a day (86400e9 ns)
-- or an average month (365.25 / 12 days = 2629800e9 ns), as research.features does.
-- Peer-relative step (research.features.peers), among the rows of the snapshot: the interest
-- rate and the digital share of interactions as the difference from the book's median, the
-- margin change from its industry's median, the digital share of movements and the
-- touchpoints as their percentile rank among the rows with a value (ties share their mean rank).
WITH
params AS (
    SELECT $snapshot::TIMESTAMP AS s,
           $end::TIMESTAMP AS e,
           $snapshot::TIMESTAMP - INTERVAL 1 MONTH AS m1,
           $snapshot::TIMESTAMP - INTERVAL 3 MONTH AS m3,
           $snapshot::TIMESTAMP - INTERVAL 6 MONTH AS m6,
           $snapshot::TIMESTAMP - INTERVAL 12 MONTH AS m12,
           $snapshot::TIMESTAMP - INTERVAL 24 MONTH AS m24
),
-- ------------------------------------------------------------------ the panel's rows
first_default AS (
    SELECT customer_id, min(due_date + INTERVAL 90 DAY) AS default_date
    FROM repayments
    WHERE due_date IS NOT NULL AND (paid_date IS NULL OR paid_date >= due_date + INTERVAL 90 DAY)
    GROUP BY customer_id
),
panel AS (
    SELECT c.customer_id, c.onboarding_date, c.relationship_end_date, d.default_date,
           c.segment, c.industry, c.region, c.green_flag, c.inclusive_flag,
           -- months k = 1..12 before the snapshot that end after onboarding ("on the books")
           (SELECT count(*) FROM range(1, 13) AS r(k)
            WHERE p.s - to_months(CAST(r.k - 1 AS INTEGER)) > c.onboarding_date) AS books12,
           (SELECT count(*) FROM range(1, 7) AS r(k)
            WHERE p.s - to_months(CAST(r.k - 1 AS INTEGER)) > c.onboarding_date) AS books6,
           (SELECT count(*) FROM range(1, 4) AS r(k)
            WHERE p.s - to_months(CAST(r.k - 1 AS INTEGER)) > c.onboarding_date) AS books3
    FROM customers AS c
    CROSS JOIN params AS p
    LEFT JOIN first_default AS d ON d.customer_id = c.customer_id
    WHERE c.onboarding_date < p.s
      AND (c.relationship_end_date IS NULL OR c.relationship_end_date >= p.s)
      AND (d.default_date IS NULL OR d.default_date >= p.s)
),
-- ------------------------------------------------------------------ cash flow (transactions)
tx AS (
    SELECT t.customer_id,
           t."timestamp" AS ts,
           t.amount,
           coalesce(t.channel IN ('online_banking', 'mobile_app', 'host_to_host'), false) AS digital,
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
           count(*) FILTER (digital AND k <= 12)::DOUBLE
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
    -- the months on the books among the last 12 (a month without movements: net flow 0)
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
-- ------------------------------------------------------------------ repayment (repayments)
instalments AS (
    SELECT r.customer_id,
           r.due_date,
           r.amount_due,
           coalesce(r.paid_date <= r.due_date, false) AS on_time,
           -- days past due: 0 on time; late: to the payment, or to the snapshot while unpaid
           CASE WHEN coalesce(r.paid_date <= r.due_date, false) THEN 0
                WHEN r.paid_date < p.s THEN (epoch_ns(r.paid_date) - epoch_ns(r.due_date)) // 86400000000000
                ELSE (epoch_ns(p.s) - epoch_ns(r.due_date)) // 86400000000000 END AS dpd,
           r.paid_date IS NULL OR r.paid_date >= p.s AS unpaid,
           CASE WHEN r.paid_date < p.s
                THEN greatest(r.amount_due - coalesce(r.amount_paid, r.amount_due), 0) END AS shortfall,
           r.due_date >= p.m3 AS in3,
           r.due_date >= p.m6 AS in6,
           r.due_date >= p.m12 AS in12
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
           sum(amount_due) FILTER (unpaid) AS unpaid_amount,
           sum(shortfall) AS shortfall,
           count(*) FILTER (unpaid) AS overdue,
           min(due_date) FILTER (unpaid) AS oldest_unpaid,
           avg(dpd) FILTER (in6 AND NOT in3) AS mean_dpd_before3
    FROM instalments
    GROUP BY customer_id
),
-- ------------------------------------------------------------------ facilities
facility AS (
    SELECT f.*,
           f.close_date IS NULL OR f.close_date >= p.s AS active,
           f.collateral_type IS NULL OR f.collateral_type NOT IN ('unsecured', 'unknown') AS secured,
           f.collateral_type IS NULL OR f.collateral_type <> 'unknown' AS collateral_known
    FROM facilities AS f
    CROSS JOIN params AS p
    WHERE f.origination_date < p.s
),
fac AS (
    SELECT f.customer_id,
           count(*) FILTER (active) AS active_count,
           count(DISTINCT product) FILTER (
               active AND product IN ('term_loan', 'revolver', 'project_finance', 'trade_finance',
                                      'working_capital', 'other', 'unknown')) AS product_count,
           count(*) FILTER (origination_date >= p.m12) AS opened12,
           count(*) FILTER (close_date >= p.m12 AND close_date < p.s) AS closed12,
           sum(limit_amount) FILTER (active) AS total_limit,
           min(maturity_date) FILTER (active) AS nearest_maturity,
           sum(limit_amount * interest_rate) FILTER (active AND interest_rate IS NOT NULL) AS rate_sum,
           sum(limit_amount) FILTER (active AND interest_rate IS NOT NULL) AS rated_limit,
           sum(limit_amount) FILTER (active AND secured) AS secured_limit,
           sum(limit_amount) FILTER (active AND collateral_known) AS known_limit
    FROM facility AS f
    CROSS JOIN params AS p
    GROUP BY f.customer_id
),
facility_balance AS (
    -- a balance belongs to its facility's customer, and counts once the facility was originated
    SELECT f.customer_id,
           b.month_end,
           b.drawn_amount,
           b.limit_amount,
           coalesce(f.repayment_type = 'revolving', false) AS revolving
    FROM facility_balances AS b
    JOIN facilities AS f ON f.facility_id = b.facility_id
    CROSS JOIN params AS p
    WHERE b.month_end < p.s
      AND b.month_end >= p.m12
      AND (f.origination_date IS NULL OR f.origination_date <= b.month_end)
),
fac_bal AS (
    SELECT b.customer_id,
           sum(drawn_amount) FILTER (month_end >= p.m1) AS drawn1,
           sum(limit_amount) FILTER (month_end >= p.m1) AS limit1,
           sum(drawn_amount) FILTER (revolving AND month_end >= p.m1) AS rev_drawn1,
           sum(limit_amount) FILTER (revolving AND month_end >= p.m1) AS rev_limit1,
           sum(drawn_amount) FILTER (revolving AND month_end >= p.m3) AS rev_drawn3,
           sum(limit_amount) FILTER (revolving AND month_end >= p.m3) AS rev_limit3,
           sum(drawn_amount) FILTER (revolving AND month_end >= p.m6) AS rev_drawn6,
           sum(limit_amount) FILTER (revolving AND month_end >= p.m6) AS rev_limit6,
           sum(drawn_amount) FILTER (revolving) AS rev_drawn12,
           sum(limit_amount) FILTER (revolving) AS rev_limit12,
           sum(drawn_amount) FILTER (revolving AND month_end >= p.m6 AND month_end < p.m3) AS rev_drawn_before3,
           sum(limit_amount) FILTER (revolving AND month_end >= p.m6 AND month_end < p.m3) AS rev_limit_before3
    FROM facility_balance AS b
    CROSS JOIN params AS p
    GROUP BY b.customer_id
),
-- ------------------------------------------------------------------ financial statements
statement AS (
    -- the statements reported before the snapshot, latest first (period end, then report)
    SELECT f.*,
           row_number() OVER (PARTITION BY f.customer_id
                              ORDER BY f.period_end DESC, f.reported_date DESC) AS recency,
           CASE WHEN f.revenue > 0 THEN f.ebitda / f.revenue END AS margin
    FROM financials AS f
    CROSS JOIN params AS p
    WHERE f.reported_date < p.s AND f.period_end IS NOT NULL
),
latest_statement AS (
    SELECT * FROM statement WHERE recency = 1
),
prior_statement AS (
    -- the latest one whose period ended at least 300 days before the latest one's
    SELECT DISTINCT ON (s.customer_id) s.customer_id, s.revenue, s.margin
    FROM statement AS s
    JOIN latest_statement AS l ON l.customer_id = s.customer_id
    WHERE s.period_end::DATE <= l.period_end::DATE - 300
    ORDER BY s.customer_id, s.period_end DESC, s.reported_date DESC
),
statements AS (
    SELECT customer_id,
           max(reported_date) AS last_report,
           count(*) FILTER (reported_date >= p.m12) AS recent
    FROM statement
    CROSS JOIN params AS p
    GROUP BY customer_id
),
-- ------------------------------------------------------------------ engagement (interactions)
engagement AS (
    SELECT i.customer_id,
           count(*) FILTER (i."timestamp" >= p.m3) AS touch3,
           count(*) FILTER (i."timestamp" >= p.m6) AS touch6,
           count(*) FILTER (i."timestamp" >= p.m12) AS touch12,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.channel = 'rm_visit') AS rm_visit12,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.channel = 'phone') AS phone12,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.channel = 'email') AS email12,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.channel = 'mobile_app') AS mobile_app12,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.channel = 'web_portal') AS web_portal12,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.channel = 'social_media') AS social_media12,
           count(*) FILTER (i."timestamp" >= p.m12
                            AND i.channel IN ('mobile_app', 'web_portal', 'social_media')) AS digital12,
           count(*) FILTER (i."timestamp" >= p.m3 AND i.interaction_type = 'complaint') AS complaints3,
           count(*) FILTER (i."timestamp" >= p.m6 AND i.interaction_type = 'complaint') AS complaints6,
           count(*) FILTER (i."timestamp" >= p.m12 AND i.interaction_type = 'complaint') AS complaints12,
           max(i."timestamp") FILTER (i.channel = 'rm_visit') AS last_rm_visit,
           max(i."timestamp") AS last_touch,
           avg(i.response_hours) FILTER (i."timestamp" >= p.m12) AS response12,
           avg(i.satisfaction_score) FILTER (i."timestamp" >= p.m12) AS satisfaction12,
           avg(i.satisfaction_score) FILTER (i."timestamp" >= p.m24 AND i."timestamp" < p.m12)
               AS satisfaction_before12
    FROM interactions AS i
    CROSS JOIN params AS p
    WHERE i."timestamp" < p.s
    GROUP BY i.customer_id
),
-- ------------------------------------------------------------------ applications
application AS (
    SELECT a.*,
           a.decided_date IS NOT NULL AND a.submitted_date IS NOT NULL AS has_decision,
           greatest(a.submitted_date, a.decided_date) AS decision_time
    FROM applications AS a
),
app AS (
    SELECT a.customer_id,
           count(*) FILTER (submitted_date >= p.m12 AND submitted_date < p.s) AS requests12,
           sum(amount) FILTER (submitted_date >= p.m12 AND submitted_date < p.s) AS amount12,
           count(*) FILTER (has_decision AND decision_time >= p.m12 AND decision_time < p.s) AS decided12,
           count(*) FILTER (has_decision AND decision_time >= p.m12 AND decision_time < p.s
                            AND decision = 'declined') AS declined12,
           count(*) FILTER (has_decision AND decision_time >= p.m12 AND decision_time < p.s
                            AND decision = 'withdrawn') AS withdrawn12,
           sum((epoch_ns(decided_date) - epoch_ns(submitted_date)) / 86400000000000)
               FILTER (has_decision AND decision_time >= p.m12 AND decision_time < p.s) AS turnaround12,
           count(*) FILTER (submitted_date < p.s)
               - count(*) FILTER (has_decision AND decision_time < p.s) AS pending,
           max(submitted_date) FILTER (submitted_date < p.s) AS last_request
    FROM application AS a
    CROSS JOIN params AS p
    GROUP BY a.customer_id
),
-- ------------------------------------------------------------------ account balances
account AS (
    SELECT b.customer_id,
           b.balance_date AS d,
           b.balance AS v,
           date_diff('month', date_trunc('month', b.balance_date), p.s) AS k
    FROM account_balances AS b
    CROSS JOIN params AS p
    WHERE b.balance_date < p.s AND b.balance_date >= p.m12 AND b.balance IS NOT NULL
),
bal AS (
    SELECT customer_id,
           avg(v) FILTER (k <= 3) AS mean3,
           avg(v) FILTER (k <= 6) AS mean6,
           avg(v) AS mean12,
           min(v) FILTER (k <= 3) AS min3,
           min(v) FILTER (k <= 6) AS min6,
           min(v) AS min12,
           count(*) FILTER (v < 0 AND k <= 3)::DOUBLE / nullif(count(*) FILTER (k <= 3), 0) AS overdrawn3,
           count(*) FILTER (v < 0 AND k <= 6)::DOUBLE / nullif(count(*) FILTER (k <= 6), 0) AS overdrawn6,
           count(*) FILTER (v < 0)::DOUBLE / nullif(count(*), 0) AS overdrawn12,
           stddev_samp(v) AS std12,
           arg_max(v, d) AS closing,
           avg(abs(v)) FILTER (k BETWEEN 4 AND 6) AS mean_abs_before3,
           avg(v) FILTER (k BETWEEN 4 AND 6) AS mean_before3
    FROM account
    GROUP BY customer_id
),
overdraft AS (
    -- the months among the last 12 with an overdrawn balance
    SELECT customer_id,
           count(*) FILTER (k <= 3) AS months3,
           count(*) FILTER (k <= 6) AS months6,
           count(*) AS months12
    FROM (SELECT DISTINCT customer_id, k FROM account WHERE v < 0)
    GROUP BY customer_id
),
-- ------------------------------------------------------------------ the features, raw
raw AS (
    SELECT pa.customer_id,
           -- cash flow
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
           (epoch_ns(p.s) - epoch_ns(c.last_in)) / 86400000000000 AS cf_days_since_inflow,
           (epoch_ns(p.s) - epoch_ns(c.last_out)) / 86400000000000 AS cf_days_since_outflow,
           nf.net_std AS cf_net_flow_std_12m,
           nf.net_std / nullif(coalesce(c.in12, 0) / nullif(nf.n_months, 0), 0)
               AS cf_net_flow_volatility_12m,
           coalesce(c.in3, 0) / nullif(coalesce(c.in_before3, 0), 0) - 1 AS cf_inflow_trend,
           c.digital_share AS cf_digital_share_12m,
           coalesce(ac.active_months, 0) AS cf_active_months_12m,
           -- repayment
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
           -- within the longest window only: beyond it the figure would measure the history held
           CASE WHEN (epoch_ns(p.s) - epoch_ns(r.last_late)) / 2629800000000000 <= 12
                THEN (epoch_ns(p.s) - epoch_ns(r.last_late)) / 2629800000000000 END
               AS rep_months_since_late,
           coalesce(r.unpaid_amount, 0) + coalesce(r.shortfall, 0) AS rep_arrears_amount,
           coalesce(r.overdue, 0) AS rep_overdue_instalments,
           coalesce((epoch_ns(p.s) - epoch_ns(r.oldest_unpaid)) // 86400000000000, 0) AS rep_current_dpd,
           r.mean_dpd3 - r.mean_dpd_before3 AS rep_dpd_trend,
           -- balances (account conduct)
           bl.mean3 AS bal_mean_3m,
           bl.mean6 AS bal_mean_6m,
           bl.mean12 AS bal_mean_12m,
           bl.min3 AS bal_min_3m,
           bl.min6 AS bal_min_6m,
           bl.min12 AS bal_min_12m,
           coalesce(od.months3, 0) AS bal_overdraft_months_3m,
           coalesce(od.months6, 0) AS bal_overdraft_months_6m,
           coalesce(od.months12, 0) AS bal_overdraft_months_12m,
           bl.overdrawn3 AS bal_overdrawn_share_3m,
           bl.overdrawn6 AS bal_overdrawn_share_6m,
           bl.overdrawn12 AS bal_overdrawn_share_12m,
           bl.std12 AS bal_std_12m,
           bl.closing AS bal_closing,
           (bl.mean3 - bl.mean_before3) / nullif(bl.mean_abs_before3, 0) AS bal_trend,
           -- mean balance over mean monthly outflows (months on the books of the window)
           bl.mean3 / nullif(coalesce(c.out3, 0) / nullif(pa.books3, 0), 0) AS bal_cash_cover_3m,
           bl.mean6 / nullif(coalesce(c.out6, 0) / nullif(pa.books6, 0), 0) AS bal_cash_cover_6m,
           bl.mean12 / nullif(coalesce(c.out12, 0) / nullif(pa.books12, 0), 0) AS bal_cash_cover_12m,
           -- facilities
           coalesce(f.active_count, 0) AS fac_active_count,
           coalesce(f.product_count, 0) AS fac_product_count,
           coalesce(f.opened12, 0) AS fac_opened_12m,
           coalesce(f.closed12, 0) AS fac_closed_12m,
           coalesce(f.total_limit, 0) AS fac_total_limit,
           coalesce(fb.drawn1, 0) AS fac_exposure,
           fb.drawn1 / nullif(fb.limit1, 0) AS fac_utilisation,
           fb.rev_drawn1 / nullif(fb.rev_limit1, 0) AS fac_revolver_utilisation,
           fb.rev_drawn3 / nullif(fb.rev_limit3, 0) AS fac_revolver_utilisation_3m,
           fb.rev_drawn6 / nullif(fb.rev_limit6, 0) AS fac_revolver_utilisation_6m,
           fb.rev_drawn12 / nullif(fb.rev_limit12, 0) AS fac_revolver_utilisation_12m,
           fb.rev_drawn3 / nullif(fb.rev_limit3, 0)
               - fb.rev_drawn_before3 / nullif(fb.rev_limit_before3, 0) AS fac_revolver_utilisation_trend,
           (epoch_ns(f.nearest_maturity) - epoch_ns(p.s)) / 2629800000000000 AS fac_months_to_maturity,
           f.rate_sum / nullif(f.rated_limit, 0) AS fac_mean_interest_rate,
           coalesce(f.secured_limit, 0) / nullif(f.known_limit, 0) AS fac_secured_share,
           -- engagement
           coalesce(g.touch3, 0) AS eng_touchpoints_3m,
           coalesce(g.touch6, 0) AS eng_touchpoints_6m,
           coalesce(g.touch12, 0) AS eng_touchpoints_12m,
           coalesce(g.rm_visit12, 0) AS eng_rm_visit_12m,
           coalesce(g.phone12, 0) AS eng_phone_12m,
           coalesce(g.email12, 0) AS eng_email_12m,
           coalesce(g.mobile_app12, 0) AS eng_mobile_app_12m,
           coalesce(g.web_portal12, 0) AS eng_web_portal_12m,
           coalesce(g.social_media12, 0) AS eng_social_media_12m,
           g.digital12::DOUBLE / nullif(g.touch12, 0) AS eng_digital_share_12m,
           coalesce(g.complaints3, 0) AS eng_complaints_3m,
           coalesce(g.complaints6, 0) AS eng_complaints_6m,
           coalesce(g.complaints12, 0) AS eng_complaints_12m,
           (epoch_ns(p.s) - epoch_ns(g.last_rm_visit)) / 86400000000000 AS eng_days_since_rm_contact,
           (epoch_ns(p.s) - epoch_ns(g.last_touch)) / 86400000000000 AS eng_days_since_touchpoint,
           g.response12 AS eng_mean_response_hours_12m,
           g.satisfaction12 AS eng_satisfaction_12m,
           g.satisfaction12 - g.satisfaction_before12 AS eng_satisfaction_change_12m,
           -- financials
           CASE WHEN ls.ebitda > 0 THEN ls.total_debt / ls.ebitda END AS fin_leverage,
           ls.ebitda / nullif(ls.interest_expense, 0) AS fin_interest_cover,
           ls.current_assets / nullif(ls.current_liabilities, 0) AS fin_current_ratio,
           ls.cash / nullif(ls.current_liabilities, 0) AS fin_cash_ratio,
           ls.cfads / nullif(ls.debt_service, 0) AS fin_dscr,
           ls.margin AS fin_ebitda_margin,
           CASE WHEN ps.revenue > 0 THEN ls.revenue / ps.revenue - 1 END AS fin_revenue_growth,
           ls.margin - ps.margin AS fin_margin_change,
           ln(1 + greatest(ls.revenue, 0)) AS fin_log_revenue,
           (epoch_ns(ls.reported_date) - epoch_ns(ls.period_end)) / 86400000000000 AS fin_reporting_lag_days,
           (epoch_ns(p.s) - epoch_ns(st.last_report)) / 2629800000000000 AS fin_months_since_statement,
           coalesce(st.recent, 0) AS fin_statements_12m,
           -- days without a statement: since the last report, else since onboarding
           CASE WHEN (epoch_ns(p.s) - epoch_ns(coalesce(st.last_report, pa.onboarding_date)))
                     / 86400000000000 > 180 THEN 1.0 ELSE 0.0 END AS fin_statement_overdue,
           -- applications
           coalesce(ap.requests12, 0) AS app_requests_12m,
           coalesce(ap.amount12, 0) AS app_requested_amount_12m,
           ap.declined12::DOUBLE / nullif(ap.decided12, 0) AS app_decline_share_12m,
           coalesce(ap.withdrawn12, 0) AS app_withdrawn_12m,
           coalesce(ap.pending, 0) AS app_pending,
           ap.turnaround12 / nullif(ap.decided12, 0) AS app_mean_turnaround_days_12m,
           CASE WHEN (epoch_ns(p.s) - epoch_ns(ap.last_request)) / 86400000000000 <= 365.25
                THEN (epoch_ns(p.s) - epoch_ns(ap.last_request)) / 86400000000000 END
               AS app_days_since_request,
           -- relationship and profile
           (epoch_ns(p.s) - epoch_ns(pa.onboarding_date)) / 2629800000000000 AS rel_tenure_months,
           pa.segment,
           pa.industry,
           pa.region,
           pa.green_flag::DOUBLE AS green_flag,
           pa.inclusive_flag::DOUBLE AS inclusive_flag,
           -- labels: the event in [s, s + 12 months) and before the end of the data; unknown
           -- (NULL) when the window passes the end without the event
           CASE WHEN pa.default_date >= p.s AND pa.default_date < p.s + INTERVAL 12 MONTH
                     AND pa.default_date < p.e THEN 1.0
                WHEN p.s + INTERVAL 12 MONTH > p.e THEN NULL ELSE 0.0 END AS default_12m,
           CASE WHEN pa.relationship_end_date >= p.s
                     AND pa.relationship_end_date < p.s + INTERVAL 12 MONTH
                     AND pa.relationship_end_date < p.e THEN 1.0
                WHEN p.s + INTERVAL 12 MONTH > p.e THEN NULL ELSE 0.0 END AS churn_12m
    FROM panel AS pa
    CROSS JOIN params AS p
    LEFT JOIN cash AS c ON c.customer_id = pa.customer_id
    LEFT JOIN net_flow AS nf ON nf.customer_id = pa.customer_id
    LEFT JOIN active AS ac ON ac.customer_id = pa.customer_id
    LEFT JOIN repay AS r ON r.customer_id = pa.customer_id
    LEFT JOIN bal AS bl ON bl.customer_id = pa.customer_id
    LEFT JOIN overdraft AS od ON od.customer_id = pa.customer_id
    LEFT JOIN fac AS f ON f.customer_id = pa.customer_id
    LEFT JOIN fac_bal AS fb ON fb.customer_id = pa.customer_id
    LEFT JOIN engagement AS g ON g.customer_id = pa.customer_id
    LEFT JOIN latest_statement AS ls ON ls.customer_id = pa.customer_id
    LEFT JOIN prior_statement AS ps ON ps.customer_id = pa.customer_id
    LEFT JOIN statements AS st ON st.customer_id = pa.customer_id
    LEFT JOIN app AS ap ON ap.customer_id = pa.customer_id
)
-- ------------------------------------------------------------------ the peer-relative step
SELECT * EXCLUDE (cf_digital_share_12m, eng_touchpoints_3m, eng_touchpoints_6m,
                  eng_touchpoints_12m, eng_digital_share_12m, fac_mean_interest_rate,
                  fin_margin_change),
       -- percentile rank in (0, 1] among the rows with a value: (smaller + (ties + 1) / 2) / n
       CASE WHEN cf_digital_share_12m IS NOT NULL THEN
           (rank() OVER (ORDER BY cf_digital_share_12m NULLS LAST) - 1
            + (count(*) OVER (PARTITION BY cf_digital_share_12m) + 1) / 2.0)
           / count(cf_digital_share_12m) OVER () END AS cf_digital_share_book_rank_12m,
       (rank() OVER (ORDER BY eng_touchpoints_3m) - 1
        + (count(*) OVER (PARTITION BY eng_touchpoints_3m) + 1) / 2.0)
           / count(*) OVER () AS eng_touchpoints_book_rank_3m,
       (rank() OVER (ORDER BY eng_touchpoints_6m) - 1
        + (count(*) OVER (PARTITION BY eng_touchpoints_6m) + 1) / 2.0)
           / count(*) OVER () AS eng_touchpoints_book_rank_6m,
       (rank() OVER (ORDER BY eng_touchpoints_12m) - 1
        + (count(*) OVER (PARTITION BY eng_touchpoints_12m) + 1) / 2.0)
           / count(*) OVER () AS eng_touchpoints_book_rank_12m,
       eng_digital_share_12m - median(eng_digital_share_12m) OVER () AS eng_digital_share_vs_book_12m,
       fac_mean_interest_rate - median(fac_mean_interest_rate) OVER () AS fac_rate_vs_book,
       fin_margin_change - median(fin_margin_change) OVER (PARTITION BY industry)
           AS fin_margin_change_vs_industry
FROM raw
ORDER BY customer_id
