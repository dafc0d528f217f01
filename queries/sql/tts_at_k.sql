-- TTS@k against pass@k of the latest verify run (runs = 'all': of every
-- verify run, one curve each — the report compares the verifier modes
-- side by side: model, execution, generated-tests, hybrid), for k = 1..K:
-- of each task's first k
-- candidates (by sample index), the one the verifier scores highest (ties
-- broken by the seeded draw) is selected; TTS@k is the share of tasks whose
-- selection is resolved. pass@k is the unbiased estimator over the same K
-- candidates (an oracle's expectation over random k-subsets); oracle_at_k
-- is the share of tasks with any resolved candidate among the same first k:
-- the ceiling of any selector on them (TTS@1 is one draw per task, so it
-- can sit above pass@1, never above oracle@1). Only tasks with at least k
-- candidates of known outcome count at k.
-- param runs = 'latest': 'latest' (the latest verify run) or 'all' (every run)
WITH c AS (
    SELECT verify_id, verifier, task_id, rollout_id, score, draw, resolved,
           row_number() OVER (PARTITION BY verify_id, task_id ORDER BY sample_idx, run_id, rollout_id) AS rank,
           count(*) OVER (PARTITION BY verify_id, task_id) AS n,
           count(*) FILTER (WHERE resolved) OVER (PARTITION BY verify_id, task_id) AS c
    FROM verifier_scores
    WHERE resolved IS NOT NULL
      AND ($runs = 'all' OR verify_id IN (SELECT verify_id FROM latest_verifier_scores))
),
ks AS (
    SELECT verify_id, unnest(range(1, max(n) + 1)) AS k FROM c GROUP BY verify_id
),
ranked AS (
    SELECT c.*, ks.k,
           row_number() OVER (PARTITION BY c.verify_id, ks.k, c.task_id ORDER BY c.score DESC, c.draw DESC) AS pick,
           bool_or(c.resolved) OVER (PARTITION BY c.verify_id, ks.k, c.task_id) AS any_resolved
    FROM c JOIN ks ON ks.verify_id = c.verify_id AND c.rank <= ks.k AND c.n >= ks.k
)
SELECT verify_id, any_value(verifier) AS verifier, k, count(*) AS tasks,
       round(avg(resolved::INT), 4) AS tts_at_k,
       round(avg(any_resolved::INT), 4) AS oracle_at_k,
       round(avg(CASE WHEN n - c < k THEN 1.0
                      ELSE 1.0 - coalesce(list_product(list_transform(range(n - c + 1, n + 1), i -> 1.0 - k / i)), 1.0) END), 4) AS pass_at_k
FROM ranked
WHERE pick = 1
GROUP BY verify_id, k
ORDER BY verify_id, k;
