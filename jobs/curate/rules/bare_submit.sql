-- bare_submit: the rollout must end with a submit action on its own (the
-- last action is a submit and nothing else happened in that turn). Submits
-- are the actions flagged submit when the rollout was written: a tool in
-- schemas.SubmitTools or a command matching the submit pattern of
-- schemas/actions.go.
WITH final AS (
    SELECT rollout_id, len(actions) AS n_actions, actions[-1].tool AS last_tool,
           list_filter(actions, a -> a.turn = actions[-1].turn) AS last_turn
    FROM rollouts
)
SELECT rollout_id,
       CASE WHEN n_actions = 0 THEN 'no actions'
            WHEN NOT list_bool_or(list_transform(last_turn, a -> a.submit)) THEN 'last action is ' || last_tool || ', not a submit'
            ELSE 'submit shares its turn with ' || (len(last_turn) - 1) || ' other action(s)' END AS reason
FROM final
WHERE n_actions = 0 OR NOT list_bool_or(list_transform(last_turn, a -> a.submit)) OR len(last_turn) > 1;
