-- Self-play (Self-Play SWE-RL): each policy's solve rate on the tasks it
-- wrote itself — a kept injection by the same model (synth-tasks --method
-- policy; injections.task_id is the task it became) — beside tasks other
-- models wrote, procedurally synthesised tasks and real ones. Rollouts
-- with a graded outcome only (rollouts.resolved).
WITH origin AS (
    SELECT t.task_id, t.source, any_value(i.model) AS author
    FROM tasks t LEFT JOIN injections i ON i.task_id = t.task_id AND i.kept
    GROUP BY t.task_id, t.source
)
SELECT r.policy,
       CASE WHEN o.author = r.policy THEN 'self-made'
            WHEN o.author IS NOT NULL THEN 'other policy'
            WHEN o.source = 'synth' THEN 'procedural'
            ELSE 'real' END AS origin,
       count(DISTINCT r.task_id) AS tasks,
       count(*) AS rollouts,
       count(*) FILTER (WHERE r.resolved) AS resolved,
       round(count(*) FILTER (WHERE r.resolved) / count(*), 4) AS solve_rate
FROM rollouts r JOIN origin o ON o.task_id = r.task_id
WHERE r.resolved IS NOT NULL
GROUP BY ALL
ORDER BY r.policy, origin;
