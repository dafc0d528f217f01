-- Best-of-N difficulty per (task, policy) over every input rollout: n graded
-- samples (resolved known from the rollout or its evaluation; infrastructure
-- errors and ungraded samples excluded), n_resolved, pass rate and the
-- histogram bucket.
WITH graded AS (
    SELECT i.task_id, i.policy,
           coalesce(i.resolved, e.resolved) AS resolved
    FROM cur_input i
    LEFT JOIN (SELECT rollout_id, bool_or(status = 'resolved') AS resolved
               FROM evaluations WHERE rollout_id <> '' AND status IN ('resolved', 'unresolved', 'empty_patch')
               GROUP BY rollout_id) e USING (rollout_id)
    WHERE NOT i.infra_error AND i.task_id <> ''
)
SELECT task_id, policy,
       count(*) FILTER (WHERE resolved IS NOT NULL) AS n,
       count(*) FILTER (WHERE resolved) AS n_resolved,
       coalesce(count(*) FILTER (WHERE resolved) / nullif(count(*) FILTER (WHERE resolved IS NOT NULL), 0), 0.0) AS pass_rate
FROM graded
GROUP BY task_id, policy
HAVING count(*) FILTER (WHERE resolved IS NOT NULL) > 0;
