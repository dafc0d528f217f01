-- format_hint: the environment had to tell the agent its output was
-- malformed (SWE-Master: "You forgot to use a function call"): the
-- rollout's format_errors, the user or tool messages holding one of
-- schemas.FormatHints, found when the rollout was written.
SELECT rollout_id, 'format hint at message ' || format_errors[1].turn || ': ' || format_errors[1].hint AS reason
FROM rollouts
WHERE len(format_errors) > 0;
