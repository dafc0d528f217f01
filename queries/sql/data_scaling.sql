-- Data scaling: the resolve rate of checkpoints against the number of
-- training samples they were trained on, per kind of training: sft (the
-- checkpoint's SFT set, train split) and rl (the RL samples of the loop's
-- iterations up to the one that produced it, swelake rl iterate). A
-- checkpoint's outcomes are its evaluations, or its rollouts when it has
-- none. Each kind is fitted as rate = a + b·ln n by least squares, with R²
-- and the point of diminishing returns: the n past which 1,000 more samples
-- add less than 0.1 points (b·1000/n < 0.001, i.e. n > 10⁶·b).
WITH sets AS (
    SELECT set_id, count(*) FILTER (WHERE split = 'train') AS n_samples FROM sft_examples GROUP BY set_id
),
graded AS (
    SELECT candidate AS model, (status = 'resolved')::INT AS ok FROM evaluations
    WHERE status IN ('resolved', 'unresolved', 'empty_patch')
),
outcomes AS (
    SELECT * FROM graded
    UNION ALL
    SELECT policy, resolved::INT FROM rollouts
    WHERE resolved IS NOT NULL AND policy NOT IN (SELECT model FROM graded)
),
trained AS (
    SELECT 'sft' AS kind, ck.model, ck.sft_set_id AS trained_on, s.n_samples
    FROM checkpoints ck JOIN sets s ON s.set_id = ck.sft_set_id
    WHERE ck.loop_id = ''
    UNION ALL
    SELECT 'rl', model, loop_id, rl_samples FROM checkpoints WHERE loop_id <> ''
),
points AS (
    SELECT t.kind, t.model, t.trained_on, t.n_samples, count(*) AS graded, avg(o.ok) AS resolve_rate
    FROM trained t
    JOIN outcomes o ON o.model = t.model
    WHERE t.n_samples > 0
    GROUP BY ALL
),
fit AS (
    SELECT kind,
           regr_intercept(resolve_rate, ln(n_samples)) AS a,
           regr_slope(resolve_rate, ln(n_samples))     AS b,
           regr_r2(resolve_rate, ln(n_samples))        AS r2
    FROM points
    GROUP BY kind
)
SELECT p.kind, p.model, p.trained_on, p.n_samples, p.graded,
       round(p.resolve_rate, 4)                  AS resolve_rate,
       round(f.a + f.b * ln(p.n_samples), 4)     AS fitted,
       round(f.a, 4) AS a, round(f.b, 4) AS b, round(f.r2, 4) AS r2,
       CAST(round(1e6 * f.b) AS BIGINT)          AS diminishing_after_n
FROM points p JOIN fit f USING (kind)
ORDER BY p.kind DESC, p.n_samples, p.model;
