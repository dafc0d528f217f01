-- pass@k per policy for k = 1..max n: the unbiased estimator
-- 1 − C(n−c, k)/C(n, k) (n graded rollouts of a task, c resolved; computed
-- as a product, stable for large n), averaged over the tasks with at least
-- k graded rollouts, with a 95% bootstrap confidence interval (1,000
-- resamples of the tasks, drawn by a hash: the same data gives the same
-- interval). Rollouts with an unknown outcome are left out.
WITH per_task AS (
    SELECT policy, task_id, count(*) AS n, count(*) FILTER (WHERE resolved) AS c
    FROM rollouts
    WHERE resolved IS NOT NULL AND task_id <> ''
    GROUP BY ALL
),
ks AS (
    SELECT policy, unnest(range(1, max(n) + 1)) AS k FROM per_task GROUP BY policy
),
est AS (
    SELECT p.policy, ks.k, p.task_id,
           CASE WHEN p.n - p.c < ks.k THEN 1.0
                ELSE 1.0 - coalesce(list_product(list_transform(range(p.n - p.c + 1, p.n + 1), i -> 1.0 - ks.k / i)), 1.0) END AS p
    FROM per_task p JOIN ks USING (policy)
    WHERE p.n >= ks.k
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY policy, k ORDER BY task_id) - 1 AS idx,
           count(*) OVER (PARTITION BY policy, k) AS t
    FROM est
),
draws AS (
    SELECT policy, k, t, b, unnest(range(t)) AS j
    FROM (SELECT DISTINCT policy, k, t FROM numbered), range(1000) AS r(b)
),
boot AS (
    SELECT d.policy, d.k, d.b, avg(x.p) AS mean
    FROM draws d JOIN numbered x
      ON x.policy = d.policy AND x.k = d.k AND x.idx = hash(d.b, d.j, d.policy, d.k) % d.t
    GROUP BY ALL
)
SELECT e.policy, e.k, count(*) AS tasks,
       round(avg(e.p), 4) AS pass_at_k,
       round(any_value(ci.lo), 4) AS ci_low,
       round(any_value(ci.hi), 4) AS ci_high
FROM est e
JOIN (SELECT policy, k, quantile_cont(mean, 0.025) AS lo, quantile_cont(mean, 0.975) AS hi FROM boot GROUP BY ALL) ci USING (policy, k)
GROUP BY e.policy, e.k
ORDER BY e.policy, e.k;
