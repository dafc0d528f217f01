-- dedup: identical trajectories (same content hash) and near-identical ones
-- (same task and the same sequence of actions): all but the first by
-- rollout_id are dropped, naming the one kept.
WITH sig AS (
    SELECT i.rollout_id, i.task_id, i.content_hash,
           coalesce(a.sig, '') AS action_sig
    FROM cur_input i
    LEFT JOIN (SELECT rollout_id, md5(string_agg(tool || ': ' || command, chr(10) ORDER BY seq)) AS sig
               FROM actions GROUP BY rollout_id) a USING (rollout_id)
), ranked AS (
    SELECT rollout_id,
           first_value(rollout_id) OVER (PARTITION BY content_hash ORDER BY rollout_id) AS same_content,
           first_value(rollout_id) OVER (PARTITION BY task_id, action_sig ORDER BY rollout_id) AS same_actions,
           action_sig
    FROM sig
)
SELECT rollout_id,
       CASE WHEN same_content <> rollout_id THEN 'identical to ' || same_content
            ELSE 'same actions as ' || same_actions END AS reason
FROM ranked
WHERE same_content <> rollout_id OR (action_sig <> '' AND same_actions <> rollout_id);
