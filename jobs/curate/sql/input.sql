-- The rollouts being curated (materialised once: every rule reads it), with
-- the token count each is judged by (rollouts.tokens where the source
-- recorded it, else the exact count of the rendered chat, computed by the
-- curate job into rollout_tokens). Only the small columns: the rules that
-- read the patch, the actions or the format errors read them from the
-- rollouts view, where DuckDB scans just those columns. The messages are
-- not read at all: the rules read the columns computed when each rollout
-- was written.
CREATE OR REPLACE TEMP TABLE cur_input AS
SELECT r.rollout_id, r.task_id, r.run_id, r.policy, r.num_turns, r.tokens, r.exit_reason, r.exit_reason_raw,
       r.reward, r.resolved, r.infra_error, r.forced, r.content_hash,
       coalesce(r.tokens, t.num_tokens) AS num_tokens,
       coalesce(r.reward, CASE WHEN r.resolved THEN 1.0 WHEN NOT r.resolved THEN 0.0 END) AS reward_eff
FROM rollouts r
LEFT JOIN rollout_tokens t USING (rollout_id);
