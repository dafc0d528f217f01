-- Per run and policy: rollouts, tasks, resolved count and rate (unknown
-- outcomes excluded from the rate), mean turns, mean tokens where known,
-- forced submissions and infrastructure errors.
SELECT
    run_id,
    policy,
    count(*)                                              AS rollouts,
    count(DISTINCT task_id)                               AS tasks,
    count(*) FILTER (WHERE resolved)                      AS resolved,
    round(avg(CASE WHEN resolved THEN 1.0 WHEN NOT resolved THEN 0.0 END), 4) AS resolve_rate,
    round(avg(num_turns), 2)                              AS mean_turns,
    round(avg(tokens), 1)                                 AS mean_tokens,
    count(*) FILTER (WHERE forced)                        AS forced,
    count(*) FILTER (WHERE infra_error)                   AS infra_errors
FROM rollouts
GROUP BY run_id, policy
ORDER BY run_id, policy;
