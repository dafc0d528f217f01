-- dedup: identical trajectories (same content hash), near-identical ones
-- (same task and the same sequence of actions), and rollouts of duplicate
-- tasks (the same repository and problem statement, whitespace and case
-- aside, under another task id: one instance imported from two sources).
-- The first by id is kept; the reason names it.
WITH sig AS (
    SELECT rollout_id, task_id, content_hash,
           CASE WHEN len(actions) > 0 THEN md5(array_to_string(list_transform(actions, a -> a.tool || ': ' || a.command), chr(10))) ELSE '' END AS action_sig
    FROM rollouts
), ranked AS (
    SELECT rollout_id,
           first_value(rollout_id) OVER (PARTITION BY content_hash ORDER BY rollout_id) AS same_content,
           first_value(rollout_id) OVER (PARTITION BY task_id, action_sig ORDER BY rollout_id) AS same_actions,
           action_sig
    FROM sig
), task_dups AS (
    SELECT task_id,
           first_value(task_id) OVER (PARTITION BY repo, md5(lower(regexp_replace(trim(problem_statement), '\s+', ' ', 'g'))) ORDER BY task_id) AS first_task
    FROM tasks WHERE problem_statement <> ''
), found AS (
    SELECT rollout_id,
           CASE WHEN same_content <> rollout_id THEN 'identical to ' || same_content
                ELSE 'same actions as ' || same_actions END AS reason
    FROM ranked
    WHERE same_content <> rollout_id OR (action_sig <> '' AND same_actions <> rollout_id)
    UNION ALL
    SELECT i.rollout_id, 'task ' || i.task_id || ' duplicates task ' || d.first_task AS reason
    FROM cur_input i JOIN task_dups d USING (task_id)
    WHERE d.first_task <> d.task_id
)
SELECT rollout_id, min(reason) AS reason FROM found GROUP BY rollout_id;
