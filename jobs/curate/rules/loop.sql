-- loop: the same action (tool and every parameter: viewing nine different
-- files is not a loop) repeated loop_max_repeats times in a row (default
-- 5). A run of equal actions is an island: within it, seq minus the
-- action's own row number is constant.
WITH islands AS (
    SELECT rollout_id, seq, tool || ': ' || CASE WHEN params = command THEN command ELSE params END AS action,
           seq - row_number() OVER (PARTITION BY rollout_id, tool, params ORDER BY seq) AS island
    FROM actions
), runs AS (
    SELECT rollout_id, min(seq) AS first_step, count(*) AS n, any_value(action) AS action
    FROM islands GROUP BY rollout_id, action, island
)
SELECT rollout_id, arg_max(left(action, 100) || ' repeated ' || n || ' times from step ' || first_step, n) AS reason
FROM runs
WHERE n >= getvariable('loop_max_repeats')
GROUP BY rollout_id;
