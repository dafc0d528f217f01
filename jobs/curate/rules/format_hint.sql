-- format_hint: the environment had to tell the agent its output was
-- malformed (SWE-Master: "You forgot to use a function call"): any user or
-- tool message containing one of format_hint_hints.
SELECT rollout_id, 'format hint at message ' || min(turn) || ': ' || any_value(hint) AS reason
FROM (
    SELECT rollout_id, unnest(messages) AS m, generate_subscripts(messages, 1) AS turn FROM cur_input
) msgs, (SELECT unnest(getvariable('format_hint_hints')) AS hint) hints
WHERE m.role IN ('user', 'tool') AND contains(m.content, hint)
GROUP BY rollout_id;
