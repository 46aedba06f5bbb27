#!/usr/bin/env python3
"""Scripted stand-in for juju, kubectl, microk8s, resolvectl and df in tests.

Called as `fake_tool.py <tool> <args...>` by a one-line wrapper named after the tool, which
the test puts first on PATH. Each call appends one JSON line {"tool", "args", "stdin"} to the
file named by FAKE_LOG, then answers from the JSON scenario named by FAKE_SCENARIO:

  {"rules": [{"tool": "juju", "args": ["version"],            # exact argv, or
              "args_prefix": ["deploy"],                       # argv prefix
              "args_contains": ["kfp-api"],                    # and these arguments
              "responses": [{"stdout": "...", "stdout_file": "name-in-fixtures",
                             "stderr": "...", "exit": 0, "hang": false,
                             "sabotage": "glob"}, ...]}],
   "fail_at": {"tool": "juju", "call": 7, "exit": 1, "stderr": "..."}}

A rule with "when_logged": {"tool", "args_prefix", "at_least"} applies only once that many
earlier calls match (a status that turns active once the relations are added). The k-th matching
call gets responses[k] (the last one repeats). "sabotage" replaces the files matching the glob
by directories before answering (a session file that can no longer be saved). `fail_at` makes the N-th call
(1-based) of that tool fail, whatever the rules say. Unmatched calls exit 0 silently. Fixture
files are read from FAKE_FIXTURES. With "juju_model": "<state file>", a `juju` call no rule
answers acts on a model with state (fake_juju_model.py); a response {"to_model": true} hands
the call to the model (a command that fails once, then works).
"""
import glob
import json
import os
import sys
import time


def read_log(path):
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def matches(rule, tool, args):
    if rule.get("tool") != tool:
        return False
    if "args" in rule:
        return rule["args"] == args
    prefix = rule.get("args_prefix", [])
    if any(a not in args for a in rule.get("args_contains", [])):
        return False
    return args[: len(prefix)] == prefix


def sabotage(pattern):
    """Replaces each file matching `pattern` by a non-empty directory, so that even root's
    rename over it fails: stands for a disk or directory that refuses writes."""
    for path in glob.glob(pattern):
        os.remove(path)
        os.mkdir(path)
        with open(os.path.join(path, "blocked"), "w", encoding="utf-8") as f:
            f.write("a directory where the file should be\n")


def answer(response):
    if "sabotage" in response:
        sabotage(response["sabotage"])
    out = response.get("stdout", "")
    if "stdout_file" in response:
        path = os.path.join(os.environ.get("FAKE_FIXTURES", "."), response["stdout_file"])
        with open(path, encoding="utf-8") as f:
            out = f.read()
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(response.get("stderr", ""))
    sys.stderr.flush()
    if response.get("hang"):
        # Stands for a command that never ends; the test kills it. Bounded in case it does not.
        time.sleep(60)
    return int(response.get("exit", 0))


def main():
    tool, args = sys.argv[1], sys.argv[2:]
    data = sys.stdin.buffer.read()
    stdin = data.decode("utf-8", "replace") if data else None
    log_path = os.environ.get("FAKE_LOG")
    previous = read_log(log_path)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "args": args, "stdin": stdin,
                                "pid": os.getpid()}) + "\n")
    scenario = {}
    if os.environ.get("FAKE_SCENARIO"):
        with open(os.environ["FAKE_SCENARIO"], encoding="utf-8") as f:
            scenario = json.load(f)
    fail = scenario.get("fail_at")
    if fail and fail.get("tool") == tool:
        nth = 1 + sum(1 for c in previous if c["tool"] == tool)
        if nth == int(fail["call"]):
            return answer({"stderr": fail.get("stderr", "ERROR scripted failure\n"),
                           "exit": fail.get("exit", 1)})
    for rule in scenario.get("rules", []):
        cond = rule.get("when_logged")
        if cond and sum(1 for c in previous if matches(cond, c["tool"], c["args"])) < int(cond.get("at_least", 1)):
            continue
        if matches(rule, tool, args):
            seen = sum(1 for c in previous if matches(rule, c["tool"], c["args"]))
            responses = rule.get("responses") or [{}]
            response = responses[min(seen, len(responses) - 1)]
            if response.get("to_model"):
                break
            return answer(response)
    if tool == "juju" and scenario.get("juju_model"):
        import fake_juju_model
        code = fake_juju_model.handle(scenario["juju_model"], args)
        if code is not None:
            return code
    if tool == "kubectl" and scenario.get("juju_model"):
        import fake_juju_model
        code = fake_juju_model.handle_kubectl(scenario["juju_model"], args)
        if code is not None:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
