"""verl reward function that grades a response's patch with swelake.

In verl's config (custom_reward_function, verl/trainer/ppo/reward.py
get_custom_reward_fn loads the file and calls the function by name):

    custom_reward_function:
      path: examples/verl/swelake_reward.py
      name: compute_score

The RL Parquet must come from `swelake run build-rl --verl-out ...` (either
layout): its extra_info carries the task_id swelake grades against. The
patch is the response's last ```diff fenced block, else everything from its
first "diff --git" line; a response without one scores 0 without a sandbox.

Environment:
    SWELAKE          the swelake binary (default: swelake on PATH)
    SWELAKE_CONFIG   a swelake.yaml (lake, sandbox backend, repositories)
    SWELAKE_TIMEOUT  seconds for one grading (default 1800)

Only the standard library: it runs on Debian's python3 as on a trainer's.
"""

import json
import os
import re
import subprocess

_FENCE = re.compile(r"```(?:diff|patch)[^\n]*\n(.*?)```", re.DOTALL)


def extract_patch(solution_str):
    """The unified diff in a model's response ("" when there is none)."""
    blocks = _FENCE.findall(solution_str or "")
    for block in reversed(blocks):
        if "diff --git" in block or block.lstrip().startswith("--- "):
            return block if block.endswith("\n") else block + "\n"
    i = (solution_str or "").find("diff --git")
    if i < 0:
        return ""
    patch = solution_str[i:]
    return patch if patch.endswith("\n") else patch + "\n"


def grade(task_id, patch):
    """swelake grade's JSON result for a patch against a task."""
    cmd = [os.environ.get("SWELAKE", "swelake")]
    if os.environ.get("SWELAKE_CONFIG"):
        cmd += ["--config", os.environ["SWELAKE_CONFIG"]]
    cmd += ["grade", "--task", task_id, "--json"]
    out = subprocess.run(
        cmd,
        input=patch.encode("utf-8"),
        capture_output=True,
        timeout=float(os.environ.get("SWELAKE_TIMEOUT", "1800")),
    )
    if not out.stdout.strip():
        raise RuntimeError("swelake grade %s: exit %d: %s" % (task_id, out.returncode, out.stderr.decode("utf-8", "replace").strip()))
    return json.loads(out.stdout)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's custom reward: 1.0 when the response's patch resolves the task."""
    if isinstance(extra_info, str):
        extra_info = json.loads(extra_info)
    task_id = (extra_info or {}).get("task_id")
    if not task_id:
        raise ValueError("extra_info has no task_id: write the RL Parquet with swelake run build-rl --verl-out")
    patch = extract_patch(solution_str)
    if not patch:
        return {"score": 0.0, "resolved": 0.0, "graded": 0.0}
    res = grade(task_id, patch)
    return {"score": float(res["reward"]), "resolved": 1.0 if res["resolved"] else 0.0, "graded": 1.0}
