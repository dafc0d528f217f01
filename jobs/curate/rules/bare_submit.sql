-- bare_submit: the rollout must end with a submit action on its own (the
-- last action is a submit and nothing else happened in that turn). Submits
-- are the actions flagged submit when the rollout was written: a tool in
-- schemas.SubmitTools or a command matching schemas.SubmitCommand.
WITH last_turn AS (
    SELECT rollout_id, max(turn) AS turn FROM actions GROUP BY rollout_id
), final AS (
    SELECT a.rollout_id, count(*) AS n, bool_or(a.submit) AS has_submit, arg_max(a.tool, a.seq) AS last_tool
    FROM actions a JOIN last_turn l USING (rollout_id, turn)
    GROUP BY a.rollout_id
)
SELECT i.rollout_id,
       CASE WHEN f.rollout_id IS NULL THEN 'no actions'
            WHEN NOT f.has_submit THEN 'last action is ' || f.last_tool || ', not a submit'
            ELSE 'submit shares its turn with ' || (f.n - 1) || ' other action(s)' END AS reason
FROM cur_input i LEFT JOIN final f USING (rollout_id)
WHERE f.rollout_id IS NULL OR NOT f.has_submit OR f.n > 1;
