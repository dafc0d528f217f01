-- The rollouts being curated (materialised once: every rule reads it), with
-- the token count each is judged by (rollouts.tokens where the source
-- recorded it, else the exact count of the rendered chat, computed by the
-- curate job into rollout_tokens). The messages are not read: the rules
-- read the columns computed when each rollout was written (actions,
-- format_errors, exit_reason, forced).
CREATE OR REPLACE TEMP TABLE cur_input AS
SELECT r.rollout_id, r.task_id, r.run_id, r.policy, r.num_turns, r.tokens, r.exit_reason, r.exit_reason_raw,
       r.patch, r.reward, r.resolved, r.infra_error, r.forced, r.content_hash, r.format_errors,
       coalesce(r.tokens, t.num_tokens) AS num_tokens,
       coalesce(r.reward, CASE WHEN r.resolved THEN 1.0 WHEN NOT r.resolved THEN 0.0 END) AS reward_eff
FROM rollouts r
LEFT JOIN rollout_tokens t USING (rollout_id);

-- One row per action (the rollouts' actions column, flattened): the loop,
-- git_hacking, bare_submit and dedup rules read it.
CREATE OR REPLACE TEMP TABLE actions AS
SELECT rollout_id, a.seq, a.turn, a.kind, a.tool, a.command, a.params, a.submit, a.git_history
FROM (SELECT rollout_id, unnest(actions) AS a FROM rollouts WHERE len(actions) > 0);
