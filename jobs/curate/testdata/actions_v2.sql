-- One row per action an agent took, whatever the scaffold wrote: native tool
-- calls (command taken from the arguments' command/cmd, else the arguments),
-- text-encoded calls (<function=NAME> ... <parameter=command|cmd>...</parameter>
-- ... </function> as R2E-Gym and OpenHands write them) and fenced commands
-- (SWE-agent, mini-swe-agent). seq orders a rollout's actions; turn is the
-- message index; command is the command (or the whole call) and params the
-- call's every parameter — an action's identity: viewing two files is two
-- actions, though both have the command "view". Text-encoded calls are cut with string functions, not
-- regular expressions: on a million rollouts that is the difference between
-- seconds and a fraction of one.
CREATE OR REPLACE TEMP TABLE actions AS
WITH assistant AS (
    SELECT rollout_id, m.turn, m.content, m.tool_calls AS calls
    FROM (SELECT rollout_id, unnest(list_filter(list_transform(messages, (m, i) -> {turn: i, role: m.role, content: m.content, tool_calls: m.tool_calls}),
                                                 x -> x.role = 'assistant')) AS m
          FROM cur_input)
), native AS (
    SELECT rollout_id, turn, unnest(calls) AS c, generate_subscripts(calls, 1) AS k
    FROM assistant WHERE len(calls) > 0
), native_actions AS (
    SELECT rollout_id, turn, k, 'native' AS kind, c.name AS tool,
           CASE WHEN json_valid(c.arguments)
                THEN coalesce(json_extract_string(c.arguments, '$.command'), json_extract_string(c.arguments, '$.cmd'), c.arguments)
                ELSE c.arguments END AS command,
           CASE WHEN json_valid(c.arguments) THEN json(c.arguments)::VARCHAR ELSE c.arguments END AS params
    FROM native
), text_blocks AS (
    -- a block runs from "<function=" to its first "</function>"
    SELECT rollout_id, turn, unnest(blocks) AS b, generate_subscripts(blocks, 1) AS k
    FROM (SELECT rollout_id, turn,
                 list_transform(list_filter(string_split(content, '<function=')[2:], x -> contains(x, '</function>') AND position('>' IN x) > 1),
                                x -> split_part(x, '</function>', 1)) AS blocks
          FROM assistant WHERE len(calls) = 0 AND contains(content, '<function='))
), text_actions AS (
    SELECT rollout_id, turn, k, 'text' AS kind, split_part(b, '>', 1) AS tool,
           coalesce(nullif(trim(CASE WHEN contains(b, '<parameter=command>') THEN split_part(split_part(b, '<parameter=command>', 2), '</parameter>', 1)
                                     WHEN contains(b, '<parameter=cmd>') THEN split_part(split_part(b, '<parameter=cmd>', 2), '</parameter>', 1)
                                END, E' \t\r\n'), ''),
                    '<function=' || b || '</function>') AS command,
           regexp_replace(trim(b, E' \t\r\n'), '\s+', ' ', 'g') AS params
    FROM text_blocks
), fenced AS (
    SELECT rollout_id, turn, unnest(cmds) AS command, generate_subscripts(cmds, 1) AS k
    FROM (SELECT rollout_id, turn, regexp_extract_all(content, '(?s)```(?:bash|sh)?\n(.*?)\n?```', 1) AS cmds
          FROM assistant WHERE len(calls) = 0 AND NOT contains(content, '<function=') AND contains(content, '```'))
), all_actions AS (
    SELECT * FROM native_actions
    UNION ALL SELECT * FROM text_actions
    UNION ALL SELECT rollout_id, turn, k, 'fenced' AS kind, 'bash' AS tool, command, command AS params FROM fenced
)
SELECT rollout_id, turn, k, kind, tool, trim(command, E' \t\r\n') AS command, trim(params, E' \t\r\n') AS params,
       row_number() OVER (PARTITION BY rollout_id ORDER BY turn, k) AS seq
FROM all_actions;
