-- Best-of-N difficulty histogram (per policy): tasks per pass-rate bucket,
-- the bimodal shape the mixed-results filter cuts; of the latest curation
-- run (latest_task_stats; filter task_stats by curation_id for another).
SELECT policy, bucket, count(*) AS tasks, sum(n) AS samples, round(avg(pass_rate), 3) AS mean_pass_rate
FROM latest_task_stats
GROUP BY policy, bucket
ORDER BY policy, min(pass_rate);
