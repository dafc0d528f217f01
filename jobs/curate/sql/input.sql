-- The rollouts being curated (materialised once: every rule reads it), with
-- the token count each is judged by
-- (rollouts.tokens where the source recorded it, else the exact count of
-- the rendered chat, computed by the curate job into rollout_tokens).
CREATE OR REPLACE TEMP TABLE cur_input AS
SELECT r.rollout_id, r.task_id, r.run_id, r.policy, r.messages, r.num_turns, r.tokens, r.exit_reason,
       r.patch, r.reward, r.resolved, r.infra_error, r.forced, r.content_hash,
       coalesce(r.tokens, t.num_tokens) AS num_tokens,
       coalesce(r.reward, CASE WHEN r.resolved THEN 1.0 WHEN NOT r.resolved THEN 0.0 END) AS reward_eff
FROM rollouts r
LEFT JOIN rollout_tokens t USING (rollout_id);
