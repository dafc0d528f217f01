-- Best-of-N difficulty histogram (per policy): tasks per pass-rate bucket,
-- the bimodal shape the mixed-results filter cuts; of the curation with the
-- most task statistics (filter task_stats by curation_id for another).
WITH cur AS (
    SELECT * FROM task_stats
    WHERE curation_id = (SELECT arg_max(curation_id, n) FROM (SELECT curation_id, count(*) AS n FROM task_stats GROUP BY ALL))
)
SELECT policy, bucket, count(*) AS tasks, sum(n) AS samples, round(avg(pass_rate), 3) AS mean_pass_rate
FROM cur
GROUP BY policy, bucket
ORDER BY policy, min(pass_rate);
