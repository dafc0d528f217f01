-- step_cap: the run stopped because it hit a limit (exit reason in
-- step_cap_exit_reasons) or used at least step_cap_max_turns turns.
SELECT rollout_id,
       CASE WHEN list_contains(getvariable('step_cap_exit_reasons'), lower(exit_reason))
            THEN 'stopped by ' || exit_reason
            ELSE num_turns || ' turns >= step cap ' || getvariable('step_cap_max_turns') END AS reason
FROM cur_input
WHERE list_contains(getvariable('step_cap_exit_reasons'), lower(exit_reason))
   OR num_turns >= getvariable('step_cap_max_turns');
