-- Lineage of every SFT example (filter on set_id or example_id for one
-- result): the rollouts it was built from, their tasks (source, instance,
-- content hash), the curation runs that kept each rollout, and the commits
-- — job, run key, config hash, input snapshots, code version — that wrote
-- the SFT set, the rollouts' run and the tasks' source partition, from the
-- lake's commit log (lake_commits).
WITH ex AS (
    SELECT set_id, example_id, split, unnest(rollout_ids) AS rollout_id FROM sft_examples
),
kept AS (
    SELECT rollout_id, list(DISTINCT curation_id ORDER BY curation_id) AS kept_by
    FROM curation WHERE kept GROUP BY rollout_id
),
commits AS (
    SELECT table_name, partition_value,
           list(DISTINCT version ORDER BY version)                       AS versions,
           list(DISTINCT job ORDER BY job)                               AS jobs,
           list(DISTINCT config_hash ORDER BY config_hash)               AS config_hashes,
           list(DISTINCT code_version ORDER BY code_version)             AS code_versions,
           flatten(list(inputs))                                         AS inputs
    FROM lake_commits
    WHERE partition_value IS NOT NULL
    GROUP BY ALL
)
SELECT ex.set_id, ex.example_id, ex.split, ex.rollout_id,
       r.run_id, r.policy, r.task_id, t.source AS task_source, t.instance_id, t.content_hash AS task_content_hash,
       k.kept_by,
       cs.versions AS sft_versions, cs.config_hashes AS sft_config, list_distinct(cs.inputs) AS sft_inputs, cs.code_versions AS sft_code,
       cr.versions AS rollout_versions, cr.jobs AS rollout_jobs, cr.config_hashes AS rollout_config,
       ct.versions AS task_versions, ct.jobs AS task_jobs
FROM ex
LEFT JOIN rollouts r USING (rollout_id)
LEFT JOIN tasks t ON t.task_id = r.task_id
LEFT JOIN kept k ON k.rollout_id = ex.rollout_id
LEFT JOIN commits cs ON cs.table_name = 'sft_examples' AND cs.partition_value = ex.set_id
LEFT JOIN commits cr ON cr.table_name = 'rollouts' AND cr.partition_value = r.run_id
LEFT JOIN commits ct ON ct.table_name = 'tasks' AND ct.partition_value = t.source
ORDER BY ex.set_id, ex.example_id, ex.rollout_id;
