-- git_hacking: an action looks up the fix in the repository's history
-- (git log/show/reflog/clone, or reading .git internals: the actions'
-- git_history flag, computed when the rollout was written from
-- schemas.GitHistoryCommand, on every action, native or text-encoded).
SELECT rollout_id, 'step ' || min(seq) || ': ' || left(arg_min(command, seq), 120) AS reason
FROM actions
WHERE git_history
GROUP BY rollout_id;
