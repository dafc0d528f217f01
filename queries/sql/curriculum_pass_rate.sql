-- Curriculum by pass rate (SWE-Master, DeepSWE): each task's Best-of-N
-- pass rate and its band: unsolved (p = 0), too_hard (0 < p < lo),
-- learnable (lo <= p < hi), solved (p >= hi). The pass rates are those of
-- the RL loop loop_id's latest iteration (its rollouts), so each iteration
-- of `swelake rl iterate` selects from the last one's results; with no such
-- iteration, those of the latest curation (latest_task_stats).
-- param lo = 0.4: the learnable band's lower bound (inclusive)
-- param hi = 1.0: its upper bound (exclusive)
-- param loop_id = '': an RL loop whose latest iteration gives the pass rates (rl iterate sets its own)
WITH last_iteration AS (
    SELECT arg_max(rollout_run_id, iteration) AS run_id FROM rl_iterations WHERE loop_id = $loop_id
),
from_loop AS (
    SELECT task_id, count(*) AS n, count(*) FILTER (WHERE resolved) AS n_resolved
    FROM rollouts
    WHERE run_id = (SELECT run_id FROM last_iteration) AND resolved IS NOT NULL AND task_id <> ''
    GROUP BY task_id
),
from_stats AS (
    SELECT task_id, sum(n) AS n, sum(n_resolved) AS n_resolved FROM latest_task_stats GROUP BY task_id
),
rates AS (
    SELECT 'rl_iterations' AS measured_by, * FROM from_loop
    UNION ALL
    SELECT 'task_stats', * FROM from_stats WHERE NOT EXISTS (SELECT 1 FROM from_loop)
)
SELECT task_id, measured_by, n, n_resolved, round(n_resolved / n, 4) AS pass_rate,
       CASE WHEN n_resolved = 0 THEN 'unsolved'
            WHEN n_resolved / n >= $hi THEN 'solved'
            WHEN n_resolved / n >= $lo THEN 'learnable'
            ELSE 'too_hard' END AS band
FROM rates
WHERE n > 0
ORDER BY task_id;
