-- The RL loop, iteration by iteration (swelake rl iterate): the checkpoint
-- that made the rollouts, its resolve rate, the batch (samples, reward and
-- advantage statistics), the trainer's run and the checkpoint it reported;
-- the latest loop (latest_rl_iterations; read rl_iterations for every loop).
SELECT loop_id, iteration, checkpoint_in, checkpoint_out, tasks, rollouts, graded, resolved,
       round(resolve_rate, 4) AS resolve_rate, groups, samples, dropped_groups, cum_samples,
       round(reward_mean, 4) AS reward_mean, round(reward_std, 4) AS reward_std,
       round(advantage_mean, 4) AS advantage_mean, round(advantage_abs_mean, 4) AS advantage_abs_mean,
       trainer_exit, trainer_attempts, round(trainer_seconds, 1) AS trainer_seconds, batch_id
FROM latest_rl_iterations
ORDER BY iteration;
