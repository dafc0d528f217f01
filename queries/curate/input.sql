-- The rollouts being curated, with the token count each is judged by
-- (rollouts.tokens where the source recorded it, else the exact count of
-- the rendered chat, computed by the curate job into rollout_tokens).
CREATE OR REPLACE TEMP VIEW cur_input AS
SELECT r.*,
       coalesce(r.tokens, t.num_tokens) AS num_tokens,
       coalesce(r.reward, CASE WHEN r.resolved THEN 1.0 WHEN NOT r.resolved THEN 0.0 END) AS reward_eff
FROM rollouts r
LEFT JOIN rollout_tokens t USING (rollout_id);
