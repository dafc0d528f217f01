-- loop: the same action (tool and every parameter: viewing nine different
-- files is not a loop) repeated loop_max_repeats times in a row (default
-- 5). Only rollouts with that many actions are looked at; in them, a run
-- of equal actions is an island: seq minus the action's own row number is
-- constant.
WITH acts AS (
    SELECT rollout_id, unnest(actions) AS a
    FROM rollouts WHERE len(actions) >= getvariable('loop_max_repeats')
), islands AS (
    SELECT rollout_id, a.seq, a.tool || ': ' || CASE WHEN a.params = a.command THEN a.command ELSE a.params END AS action,
           a.seq - row_number() OVER (PARTITION BY rollout_id, a.tool, a.params ORDER BY a.seq) AS island
    FROM acts
), runs AS (
    SELECT rollout_id, min(seq) AS first_step, count(*) AS n, any_value(action) AS action
    FROM islands GROUP BY rollout_id, action, island
)
SELECT rollout_id, arg_max(left(action, 100) || ' repeated ' || n || ' times from step ' || first_step, n) AS reason
FROM runs
WHERE n >= getvariable('loop_max_repeats')
GROUP BY rollout_id;
