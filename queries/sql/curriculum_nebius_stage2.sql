-- NEBIUS two-stage RL: stage 2 (trained with a longer context cap) keeps
-- the tasks whose stage-1 pass rate is neither 0 nor above 2/3: band
-- stage2 (0 < p <= hi), zero (p = 0), too_easy (p > hi). A task's stage-1
-- pass rate is over every rollout of every iteration of the stage-1 RL
-- loop: stage1_loop, or ('' ) the loop with the latest finished iteration
-- other than loop_id (the loop running the query, which rl iterate sets).
-- param hi = 0.666667: the most a stage-2 task's stage-1 pass rate may be
-- param stage1_loop = '': the stage-1 loop (rl_iterations.loop_id; '' : the latest other loop)
-- param loop_id = '': the loop running this query, never taken as stage 1
WITH stage1 AS (
    SELECT CASE WHEN $stage1_loop <> '' THEN $stage1_loop
                ELSE (SELECT arg_max(loop_id, finished) FROM rl_iterations WHERE loop_id <> $loop_id) END AS loop_id
),
rates AS (
    SELECT task_id, count(*) AS n, count(*) FILTER (WHERE resolved) AS n_resolved
    FROM rollouts
    WHERE resolved IS NOT NULL AND task_id <> ''
      AND run_id IN (SELECT rollout_run_id FROM rl_iterations WHERE loop_id = (SELECT loop_id FROM stage1))
    GROUP BY task_id
)
SELECT (SELECT loop_id FROM stage1) AS stage1_loop, task_id, n, n_resolved, round(n_resolved / n, 4) AS pass_rate,
       CASE WHEN n_resolved = 0 THEN 'zero'
            WHEN n_resolved / n <= $hi THEN 'stage2'
            ELSE 'too_easy' END AS band
FROM rates
ORDER BY task_id;
