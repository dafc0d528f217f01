-- reward: the rollout's reward must be at least min_reward (default 1: the
-- patch resolved the task). Rollouts with no reward and no resolved flag are
-- dropped too: nothing says they succeeded.
SELECT rollout_id,
       CASE WHEN reward_eff IS NULL THEN 'no reward or resolved flag'
            ELSE 'reward ' || reward_eff || ' < ' || getvariable('reward_min_reward') END AS reason
FROM cur_input
WHERE reward_eff IS NULL OR reward_eff < getvariable('reward_min_reward');
