-- One row per action an agent took, whatever the scaffold wrote: native tool
-- calls (command taken from the arguments' command/cmd, else the arguments),
-- text-encoded calls (<function=NAME> ... <parameter=command|cmd>...</parameter>
-- as R2E-Gym and OpenHands write them) and fenced commands (SWE-agent,
-- mini-swe-agent). seq orders a rollout's actions; turn is the message index.
CREATE OR REPLACE TEMP TABLE actions AS
WITH msgs AS (
    SELECT rollout_id, unnest(messages) AS m, generate_subscripts(messages, 1) AS turn
    FROM cur_input
), assistant AS (
    SELECT rollout_id, turn, m.content AS content, m.tool_calls AS calls
    FROM msgs WHERE m.role = 'assistant'
), native AS (
    SELECT rollout_id, turn, unnest(calls) AS c, generate_subscripts(calls, 1) AS k
    FROM assistant WHERE len(calls) > 0
), native_actions AS (
    SELECT rollout_id, turn, k, 'native' AS kind, c.name AS tool,
           CASE WHEN json_valid(c.arguments)
                THEN coalesce(json_extract_string(c.arguments, '$.command'), json_extract_string(c.arguments, '$.cmd'), c.arguments)
                ELSE c.arguments END AS command
    FROM native
), text_blocks AS (
    SELECT rollout_id, turn,
           unnest(regexp_extract_all(content, '(?s)<function=[^>]+>.*?</function>')) AS b,
           generate_subscripts(regexp_extract_all(content, '(?s)<function=[^>]+>.*?</function>'), 1) AS k
    FROM assistant WHERE len(calls) = 0 AND content LIKE '%<function=%'
), text_actions AS (
    SELECT rollout_id, turn, k, 'text' AS kind,
           regexp_extract(b, '<function=([^>]+)>', 1) AS tool,
           coalesce(nullif(regexp_extract(b, '(?s)<parameter=(?:command|cmd)>\s*(.*?)\s*</parameter>', 1), ''), b) AS command
    FROM text_blocks
), fenced AS (
    SELECT rollout_id, turn,
           unnest(regexp_extract_all(content, '(?s)```(?:bash|sh)?\n(.*?)\n?```', 1)) AS command,
           generate_subscripts(regexp_extract_all(content, '(?s)```(?:bash|sh)?\n(.*?)\n?```', 1), 1) AS k
    FROM assistant WHERE len(calls) = 0 AND content NOT LIKE '%<function=%' AND content LIKE '%```%'
), fenced_actions AS (
    SELECT rollout_id, turn, k, 'fenced' AS kind, 'bash' AS tool, command FROM fenced
), all_actions AS (
    SELECT * FROM native_actions UNION ALL SELECT * FROM text_actions UNION ALL SELECT * FROM fenced_actions
)
SELECT rollout_id, turn, k, kind, tool, trim(command) AS command,
       row_number() OVER (PARTITION BY rollout_id ORDER BY turn, k) AS seq
FROM all_actions;
