-- patch_hygiene: the final patch adds stray files (reproduction scripts,
-- notes such as issue.md): new files whose path matches
-- patch_hygiene_stray_regex. With strip on, the curate job removes them from
-- the patch instead of dropping the rollout.
WITH added AS (
    SELECT rollout_id, unnest(regexp_extract_all(patch, 'diff --git a/\S+ b/(\S+)\nnew file mode', 1)) AS path
    FROM rollouts WHERE patch LIKE '%new file mode%'
)
SELECT rollout_id, 'adds ' || string_agg(path, ', ' ORDER BY path) AS reason
FROM added
WHERE regexp_matches(path, getvariable('patch_hygiene_stray_regex'))
GROUP BY rollout_id;
