-- git_hacking: an action looks up the fix in the repository's history
-- (git log/show/reflog/clone, or reading .git internals), matched by
-- git_hacking_regex on every action, native or text-encoded.
SELECT rollout_id, 'step ' || min(seq) || ': ' || left(arg_min(command, seq), 120) AS reason
FROM actions
WHERE regexp_matches(command, getvariable('git_hacking_regex'))
GROUP BY rollout_id;
