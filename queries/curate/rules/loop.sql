-- loop: the same action (tool and command) repeated loop_max_repeats times
-- in a row (default 5).
WITH keyed AS (
    SELECT rollout_id, seq, tool || ': ' || command AS action,
           CASE WHEN tool || ': ' || command IS DISTINCT FROM lag(tool || ': ' || command) OVER w THEN 1 ELSE 0 END AS starts
    FROM actions
    WINDOW w AS (PARTITION BY rollout_id ORDER BY seq)
), runs AS (
    SELECT rollout_id, seq, action, sum(starts) OVER (PARTITION BY rollout_id ORDER BY seq) AS run FROM keyed
), lengths AS (
    SELECT rollout_id, run, min(seq) AS first_step, count(*) AS n, any_value(action) AS action
    FROM runs GROUP BY rollout_id, run
)
SELECT rollout_id, arg_max(left(action, 100) || ' repeated ' || n || ' times from step ' || first_step, n) AS reason
FROM lengths
WHERE n >= getvariable('loop_max_repeats')
GROUP BY rollout_id;
