-- step_cap: the run stopped because it hit a limit — its exit reason (the
-- normalised one) in step_cap_exit_reasons (default: the forced exits,
-- schemas.ForcedExits: step, token, context, time and cost caps, format
-- errors), or its forced flag — or used at least step_cap_max_turns turns.
WITH r AS (
    SELECT rollout_id, exit_reason, exit_reason_raw, num_turns, forced,
           list_contains(getvariable('step_cap_exit_reasons'), exit_reason) AS limit_reason
    FROM cur_input
)
SELECT rollout_id,
       CASE WHEN limit_reason THEN 'stopped by ' || exit_reason || coalesce(' (' || nullif(exit_reason_raw, exit_reason) || ')', '')
            WHEN forced THEN 'forced submission' || coalesce(' (exit reason ' || nullif(exit_reason, '') || ')', '')
            ELSE num_turns || ' turns >= step cap ' || getvariable('step_cap_max_turns') END AS reason
FROM r
WHERE limit_reason OR coalesce(forced, false) OR num_turns >= getvariable('step_cap_max_turns');
