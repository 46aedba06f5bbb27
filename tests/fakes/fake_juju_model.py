"""A Juju model with state, for the tests of a deploy and an upgrade.

fake_tool.py hands a `juju` call here when the scenario names a state file
({"juju_model": "<path>"}) and no rule answered it. The file holds the model as JSON:

  {"name": "kubeflow", "settle_after": 2, "relations": [["a:x", "b:y"]],
   "applications": {"kfp-api": {"charm": "kfp-api", "charm_path": "...", "origin": "local",
                                "revision": 0, "kind": "sidecar", "resources": {...},
                                "config": {...}, "trust": true, "scale": 1,
                                "istio": "1.24.2", "status": "active", "message": "",
                                "pending": 0}}}

`deploy`, `refresh`, `scale-application`, `remove-application`, `integrate`/`relate`,
`config <app>`, `wait-for application` and `status --format=json` act on it. A change leaves the application in
`maintenance` for `settle_after` status calls, then `active`. Refusals are Juju 3.6's own
messages (juju/juju cmd/juju/application/refresh.go and utils/utils.go; juju/juju#15701):

- a local charm refreshed without --path or --switch;
- a resource the new charm's metadata.yaml adds that --resource does not name;
- a PodSpec charm refreshed to a sidecar charm while it has units.

istio-pilot refuses to move its control plane more than one minor version at a time: its
`upgrade-charm` hook raises (canonical/istio-operators charms/istio-pilot/src/charm.py
`_validate_upgrade_version` at 48a7d11), so the refresh is accepted and the unit ends in
`error` with `hook failed: "upgrade-charm"`, as `juju status` shows a failed hook.
"""
import json
import os
import sys
import zipfile

LOCAL_REFRESH = "ERROR upgrading a local charm requires either --path or --switch\n"
PODSPEC_TO_SIDECAR = (
    "ERROR Upgrading from an older PodSpec style charm to a newer Sidecar charm requires that "
    "the application be scaled down to 0 units.\n"
)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save(path, model):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(model, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def unquote(v):
    v = v.split(" #")[0].strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def read_charm(path):
    """What the fake needs of a .charm: its name, kind, OCI resources and Istio tag."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        metadata = z.read("metadata.yaml").decode() if "metadata.yaml" in names else ""
        config = z.read("config.yaml").decode() if "config.yaml" in names else ""
    name, kind, resources = None, "podspec", []
    section, current = None, None
    for line in metadata.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            key = line.split(":")[0].strip()
            section = key
            if key == "name":
                name = unquote(line.split(":", 1)[1])
            if key == "containers":
                kind = "sidecar"
            continue
        if section == "resources":
            if indent == 2 and line.rstrip().endswith(":"):
                current = line.strip()[:-1]
            elif indent == 4 and line.strip().startswith("type:") and current:
                if unquote(line.split(":", 1)[1]) == "oci-image":
                    resources.append(current)
    istio = None
    for line in config.splitlines():
        if line.strip().startswith("global-tag:"):
            istio = unquote(line.split(":", 1)[1])
    return {"name": name, "kind": kind, "resources": resources, "istio": istio}


def minor(version):
    parts = (version or "").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def read_config_file(path, app):
    """The `--config` file's options for `app`, in the form ckf-airgap writes (one level of
    `key: value` under the application's name, values double-quoted, booleans and numbers
    plain)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    inside = False
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(" "):
            inside = unquote(line.rstrip(":")) == app
            continue
        if inside and ":" in line:
            key, value = line.strip().split(":", 1)
            value = value.strip()
            if value.startswith('"'):
                value = json.loads(value)
            elif value in ("true", "false"):
                value = value == "true"
            else:
                try:
                    value = int(value)
                except ValueError:
                    pass
            out[unquote(key)] = value
    return out


def options(args, flags_with_value):
    """Positional arguments and flag values (repeated flags collected)."""
    positional, flags = [], {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
                flags.setdefault(k, []).append(v)
            elif a[2:] in flags_with_value and i + 1 < len(args):
                flags.setdefault(a[2:], []).append(args[i + 1])
                i += 1
            else:
                flags.setdefault(a[2:], []).append(True)
        else:
            positional.append(a)
        i += 1
    return positional, flags


def fail(message):
    sys.stderr.write(message)
    return 1


def changed(model, app):
    app["status"], app["message"] = "maintenance", "refreshing"
    app["pending"] = int(model.get("settle_after", 2))


def apply_config(app, flags, name):
    for c in flags.get("config", []):
        if "=" in c and not os.path.exists(c):
            k, v = c.split("=", 1)
            app["config"][k] = v
        else:
            app["config"].update(read_config_file(c, name))


def deploy(model, args):
    positional, flags = options(args, {"resource", "config", "model", "num-units", "base",
                                        "constraints", "channel"})
    charm_path = positional[0]
    charm = read_charm(charm_path)
    name = positional[1] if len(positional) > 1 else charm["name"]
    if name in model["applications"]:
        return fail(f'ERROR cannot add application "{name}": application already exists\n')
    app = {"charm": charm["name"], "charm_path": charm_path, "origin": "local",
           "revision": 0, "kind": charm["kind"], "resources": {}, "config": {},
           "trust": "trust" in flags, "scale": int(flags.get("num-units", [1])[0]),
           "istio": charm["istio"], "status": "", "message": "", "pending": 0}
    for r in flags.get("resource", []):
        k, v = r.split("=", 1)
        app["resources"][k] = v
    for r in charm["resources"]:
        if r not in app["resources"]:
            return fail(f'ERROR new resource "{r}" was missing, please provide it via --resource\n')
    apply_config(app, flags, name)
    changed(model, app)
    model["applications"][name] = app
    return 0


def refresh(model, args):
    positional, flags = options(args, {"path", "switch", "channel", "resource", "config",
                                        "model", "revision", "base"})
    name = positional[0]
    app = model["applications"].get(name)
    if app is None:
        return fail(f'ERROR application "{name}" not found (not found)\n')
    if app["origin"] == "local" and "path" not in flags and "switch" not in flags:
        return fail(LOCAL_REFRESH)
    if "path" not in flags:
        return fail("ERROR this fake refreshes local charms only (--path)\n")
    new_path = flags["path"][0]
    charm = read_charm(new_path)
    named = dict(r.split("=", 1) for r in flags.get("resource", []))
    for r in charm["resources"]:
        if r not in app["resources"] and r not in named:
            return fail(f'ERROR new resource "{r}" was missing, please provide it via --resource\n')
    if app["kind"] == "podspec" and charm["kind"] == "sidecar" and app["scale"] > 0:
        return fail(PODSPEC_TO_SIDECAR)
    # Resources not named stay pinned to what was set before (Juju keeps them).
    app["resources"] = {k: v for k, v in app["resources"].items() if k in charm["resources"]}
    app["resources"].update(named)
    apply_config(app, flags, name)
    if "trust" in flags:
        app["trust"] = True
    old_istio = app.get("istio")
    app.update({"charm_path": new_path, "revision": app["revision"] + 1,
                "kind": charm["kind"], "charm": charm["name"]})
    changed(model, app)
    if charm["istio"]:
        # The option set at refresh wins over the charm's default, as the hook reads it.
        tag = charm["istio"]
        for line in str(app["config"].get("image-configuration", "")).splitlines():
            if line.strip().startswith("global-tag:"):
                tag = unquote(line.split(":", 1)[1])
        before, after = minor(old_istio), minor(tag)
        if before and after and (after[0] != before[0] or after[1] - before[1] > 1
                                 or after < before):
            app["status"], app["message"] = "error", 'hook failed: "upgrade-charm"'
            app["pending"] = 0
        else:
            app["istio"] = tag
    return 0


def scale(model, args):
    positional, _ = options(args, {"model"})
    name, n = positional[0], int(positional[1])
    app = model["applications"].get(name)
    if app is None:
        return fail(f'ERROR application "{name}" not found (not found)\n')
    app["scale"] = n
    changed(model, app)
    return 0


def status(model):
    apps = {}
    for name, app in sorted(model["applications"].items()):
        if app["status"] == "maintenance":
            if app["pending"] <= 0:
                app["status"], app["message"] = "active", ""
            else:
                app["pending"] -= 1
        units = {f"{name}/{i}": {"workload-status": {"current": app["status"],
                                                     "message": app["message"]},
                                 "juju-status": {"current": "idle"}, "leader": i == 0}
                 for i in range(app["scale"])}
        apps[name] = {"charm": app["charm"], "charm-name": app["charm"],
                      "charm-origin": app["origin"], "charm-rev": app["revision"],
                      "scale": app["scale"],
                      "application-status": {"current": app["status"],
                                             "message": app["message"]},
                      "units": units}
    sys.stdout.write(json.dumps({"model": {"name": model.get("name", "kubeflow"),
                                           "type": "caas"},
                                 "machines": {}, "applications": apps}) + "\n")
    return 0


def wait_for(model, args):
    """`juju wait-for application <app> --query …`: the status calls until it settles; the
    query is taken as `status=="active"`, the only one the plans ask."""
    positional, _ = options(args, {"query", "timeout", "model"})
    name = positional[1] if len(positional) > 1 else ""
    app = model["applications"].get(name)
    if app is None:
        return fail(f'ERROR application "{name}" not found\n')
    for _ in range(int(model.get("settle_after", 2)) + 2):
        if app["status"] == "maintenance":
            if app["pending"] <= 0:
                app["status"], app["message"] = "active", ""
            else:
                app["pending"] -= 1
    if app["status"] != "active":
        return fail(f'ERROR timed out waiting for "{name}" to reach goal state: status is '
                    f'{app["status"]} ({app["message"]})\n')
    return 0


def run_action(model, args):
    """`juju run <app>/leader get-password` (Juju 3) or `juju run-action … --wait` (2.9):
    mysql-k8s's action, answering a password for the unit."""
    positional, _ = options(args, {"model", "format"})
    unit = positional[0] if positional else ""
    name = unit.split("/")[0]
    if name not in model["applications"]:
        return fail(f'ERROR application "{name}" not found (not found)\n')
    if len(positional) < 2 or positional[1] != "get-password":
        return None
    sys.stdout.write(json.dumps({f"{name}/0": {"id": "2", "status": "completed",
                                               "results": {"username": "root",
                                                           "password": f"pw-of-{name}"}}})
                     + "\n")
    return 0


def pod_app(model, pod):
    """The application of a pod named `<app>-<n>` that has that unit."""
    name, _, n = pod.rpartition("-")
    app = model["applications"].get(name)
    if app is None or not n.isdigit() or int(n) >= app["scale"]:
        return None
    return app


def handle_kubectl(path, args):
    """`kubectl wait --for=delete deploy/<app>-workload`, `kubectl cp <pod>:<file> <local>` and
    `kubectl exec <pod> …` against the model's pods (`<app>-<n>` for each unit); None for any
    other kubectl call."""
    model = load(path)
    if "--" in args:
        args = args[: args.index("--")]
    words, i = [], 0
    while i < len(args):
        if args[i] in ("-n", "-c"):
            i += 2
            continue
        if args[i] != "-i":
            words.append(args[i])
        i += 1
    positional, flags = options(words, {"namespace", "container", "timeout"})
    command = positional[0] if positional else ""
    if command == "wait" and flags.get("for", [""])[0] == "delete":
        target = positional[1]
        name = target.split("/", 1)[1][: -len("-workload")]
        app = model["applications"].get(name)
        if app is not None and app["scale"] > 0:
            return fail(f"error: timed out waiting for the condition on deployments/{name}-workload\n")
        return 0
    if command == "cp":
        source, local = positional[1], positional[2]
        pod, _, remote = source.partition(":")
        if pod_app(model, pod) is None:
            return fail(f'Error from server (NotFound): pods "{pod}" not found\n')
        with open(local, "w", encoding="utf-8") as f:
            f.write(f"copied from {pod}:{remote}\n")
        return 0
    if command == "exec":
        pod = positional[1]
        if pod_app(model, pod) is None:
            return fail(f'Error from server (NotFound): pods "{pod}" not found\n')
        return 0
    return None


def handle(path, args):
    """Answers one `juju` call from the model at `path`; None when the fake does not model
    the command (the caller answers as an unscripted call)."""
    model = load(path)
    command = args[0] if args else ""
    rest = args[1:]
    if command == "status":
        code = status(model)
    elif command == "deploy":
        code = deploy(model, rest)
    elif command == "refresh":
        code = refresh(model, rest)
    elif command == "wait-for":
        code = wait_for(model, rest)
        save(path, model)
    elif command in ("run", "run-action"):
        return run_action(model, rest)
    elif command == "scale-application":
        code = scale(model, rest)
    elif command == "remove-application":
        positional, _ = options(rest, {"model"})
        if model["applications"].pop(positional[0], None) is None:
            return fail(f'ERROR application "{positional[0]}" not found (not found)\n')
        code = 0
    elif command in ("integrate", "relate"):
        positional, _ = options(rest, {"model"})
        model.setdefault("relations", []).append(positional[:2])
        code = 0
    elif command == "config":
        positional, _ = options(rest, {"model", "format"})
        app = model["applications"].get(positional[0])
        if app is None:
            return fail(f'ERROR application "{positional[0]}" not found (not found)\n')
        sys.stdout.write(json.dumps({"application": positional[0],
                                     "settings": {k: {"value": v} for k, v in
                                                  sorted(app["config"].items())}}) + "\n")
        code = 0
    else:
        return None
    if code == 0:
        save(path, model)
    return code
