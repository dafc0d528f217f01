-- Curriculum by interaction turns (SWE-Lego): a task's difficulty is the
-- mean number of turns its resolved rollouts took; easy (<= easy_max),
-- medium (<= medium_max), hard (more), unsolved (no rollout resolved it).
-- Ordered easy to hard, the order SWE-Lego's curriculum feeds SFT data in.
-- Over every rollout, or those of one run (run_id).
-- param easy_max = 10: the most turns an easy task takes
-- param medium_max = 20: the most turns a medium task takes
-- param run_id = '': only the rollouts of this run ('' : every run)
WITH per_task AS (
    SELECT task_id, count(*) AS rollouts, count(*) FILTER (WHERE resolved) AS resolved,
           avg(num_turns) FILTER (WHERE resolved) AS turns
    FROM rollouts
    WHERE task_id <> '' AND ($run_id = '' OR run_id = $run_id)
    GROUP BY task_id
)
SELECT task_id, rollouts, resolved, round(turns, 2) AS turns,
       CASE WHEN resolved = 0 THEN 'unsolved'
            WHEN turns <= $easy_max THEN 'easy'
            WHEN turns <= $medium_max THEN 'medium'
            ELSE 'hard' END AS band
FROM per_task
ORDER BY turns NULLS LAST, task_id;
