-- step_cap: the run stopped because it hit a limit — its forced flag, or
-- its exit reason in step_cap_exit_reasons (SWE-agent's "submitted
-- (exit_context)" by the limit inside; the list is RL shaping's, one
-- definition) — or used at least step_cap_max_turns turns.
WITH r AS (
    SELECT rollout_id, exit_reason, num_turns, forced,
           list_contains(getvariable('step_cap_exit_reasons'),
                         regexp_replace(lower(trim(exit_reason)), '^submitted \((.*)\)$', '\1')) AS limit_reason
    FROM cur_input
)
SELECT rollout_id,
       CASE WHEN limit_reason THEN 'stopped by ' || exit_reason
            WHEN forced THEN 'forced submission' || coalesce(' (exit reason ' || nullif(exit_reason, '') || ')', '')
            ELSE num_turns || ' turns >= step cap ' || getvariable('step_cap_max_turns') END AS reason
FROM r
WHERE limit_reason OR coalesce(forced, false) OR num_turns >= getvariable('step_cap_max_turns');
