-- git_hacking: an action looks up the fix in the repository's history
-- (git log/show/reflog/clone, or reading .git internals): the actions'
-- git_history flag, computed when the rollout was written from the
-- git-history pattern of schemas/actions.go, on every action, native or
-- text-encoded.
SELECT rollout_id, 'step ' || first.seq || ': ' || left(first.command, 120) AS reason
FROM (SELECT rollout_id, list_filter(actions, a -> a.git_history)[1] AS first FROM rollouts)
WHERE first IS NOT NULL;
