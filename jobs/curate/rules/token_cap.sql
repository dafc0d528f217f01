-- token_cap: more than token_cap_max_tokens tokens (default 81,920), counted
-- on the chat as the model's template renders it.
SELECT rollout_id, num_tokens || ' tokens > cap ' || getvariable('token_cap_max_tokens') AS reason
FROM cur_input
WHERE num_tokens > getvariable('token_cap_max_tokens');
