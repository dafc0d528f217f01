-- Tasks per source and repository: count, how many carry FAIL_TO_PASS tests,
-- mean FAIL_TO_PASS and PASS_TO_PASS list lengths.
SELECT
    source,
    repo,
    count(*)                                           AS tasks,
    count(*) FILTER (WHERE len(fail_to_pass) > 0)      AS with_f2p,
    round(avg(len(fail_to_pass)), 2)                   AS mean_f2p,
    round(avg(len(pass_to_pass)), 2)                   AS mean_p2p
FROM tasks
GROUP BY source, repo
ORDER BY source, repo;
