-- decontam: the rollout's task belongs to an evaluation set: its instance id
-- is in decontam_instance_ids, its repo in decontam_repos, or its problem
-- statement shares at least decontam_min_overlap of its word n-grams
-- (n = decontam_ngram) with a problem statement of the tasks whose source is
-- decontam_eval_source. The reason names what matched.
WITH t AS (
    SELECT DISTINCT i.rollout_id, i.task_id, k.instance_id, k.repo, k.problem_statement
    FROM cur_input i LEFT JOIN tasks k USING (task_id)
), by_id AS (
    SELECT rollout_id, 'instance ' || instance_id || ' is in the evaluation set' AS reason
    FROM t WHERE list_contains(getvariable('decontam_instance_ids'), instance_id)
       OR list_contains(getvariable('decontam_instance_ids'), task_id)
), by_repo AS (
    SELECT rollout_id, 'repo ' || repo || ' is an evaluation repo' AS reason
    FROM t WHERE list_contains(getvariable('decontam_repos'), repo)
), words AS (
    SELECT task_id, list_filter(string_split_regex(lower(problem_statement), '[^a-z0-9_]+'), x -> x <> '') AS w
    FROM (SELECT DISTINCT task_id, problem_statement FROM t WHERE problem_statement <> '')
), eval_words AS (
    SELECT task_id AS eval_task, list_filter(string_split_regex(lower(problem_statement), '[^a-z0-9_]+'), x -> x <> '') AS w
    FROM tasks WHERE source = getvariable('decontam_eval_source') AND problem_statement <> ''
), grams AS (
    SELECT DISTINCT task_id, array_to_string(w[i:i + getvariable('decontam_ngram') - 1], ' ') AS g
    FROM words, range(1, greatest(len(w) - getvariable('decontam_ngram') + 2, 1)) r(i)
    WHERE len(w) >= getvariable('decontam_ngram')
), eval_grams AS (
    SELECT DISTINCT eval_task, array_to_string(w[i:i + getvariable('decontam_ngram') - 1], ' ') AS g
    FROM eval_words, range(1, greatest(len(w) - getvariable('decontam_ngram') + 2, 1)) r(i)
    WHERE len(w) >= getvariable('decontam_ngram')
), totals AS (
    SELECT task_id, count(*) AS n FROM grams GROUP BY task_id
), overlap AS (
    SELECT g.task_id, e.eval_task, count(DISTINCT g.g) AS shared
    FROM grams g JOIN eval_grams e USING (g)
    WHERE g.task_id <> e.eval_task
    GROUP BY g.task_id, e.eval_task
), by_ngram AS (
    SELECT t.rollout_id,
           arg_max(printf('%.0f%% of %d-grams shared with %s', 100.0 * o.shared / tt.n, getvariable('decontam_ngram'), o.eval_task), o.shared) AS reason
    FROM overlap o JOIN totals tt USING (task_id) JOIN t USING (task_id)
    WHERE o.shared >= getvariable('decontam_min_overlap') * tt.n
    GROUP BY t.rollout_id
)
SELECT rollout_id, any_value(reason) AS reason
FROM (SELECT * FROM by_id UNION ALL SELECT * FROM by_repo UNION ALL SELECT * FROM by_ngram)
GROUP BY rollout_id;
