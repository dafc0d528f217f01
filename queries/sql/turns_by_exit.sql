-- Turns and tokens per rollout by exit reason: how runs end (submitted,
-- step_cap, token_cap, time_limit, ...), how long they take to get there,
-- and how often each kind resolves.
SELECT
    coalesce(nullif(exit_reason, ''), '(unknown)')                AS exit_reason,
    count(*)                                                      AS rollouts,
    round(avg(num_turns), 2)                                      AS mean_turns,
    quantile_disc(num_turns, 0.5)                                 AS p50_turns,
    quantile_disc(num_turns, 0.9)                                 AS p90_turns,
    round(avg(tokens), 1)                                         AS mean_tokens,
    max(tokens)                                                   AS max_tokens,
    round(avg(CASE WHEN resolved THEN 1.0 WHEN NOT resolved THEN 0.0 END), 4) AS resolve_rate
FROM rollouts
GROUP BY 1
ORDER BY rollouts DESC, exit_reason;
