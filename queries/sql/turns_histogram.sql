-- Distribution of turns per rollout: rollouts per bin of 5 turns, by exit
-- reason (the long tail is where step caps and loops live).
SELECT 5 * (num_turns // 5)                                   AS turns_from,
       coalesce(nullif(exit_reason, ''), '(unknown)')          AS exit_reason,
       count(*)                                               AS rollouts
FROM rollouts
GROUP BY ALL
ORDER BY turns_from, exit_reason;
