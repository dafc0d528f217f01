-- Per-rule drop counts of the latest curation run (latest_curation_drops;
-- FROM curation_drops for every run): rows each rule rejects, rows only it
-- rejects, its share of the input, and the commonest reasons.
SELECT curation_id, rule, input, dropped, dropped_only,
       round(dropped / nullif(input, 0), 4) AS dropped_share,
       params, top_reasons
FROM latest_curation_drops
ORDER BY curation_id, dropped DESC, rule;
