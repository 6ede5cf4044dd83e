"""Checks the deployment examples against this Weir: the Kubernetes manifest's pipelines,
laid out as the pod mounts them (ConfigMap keys, `items` paths), pass `weir validate`, and
every flag the manifest and the systemd unit give `weir run` exists.

    deploy_check.py WEIR_BINARY EXAMPLES_DIR
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml


def main(weir, examples):
    docs = list(yaml.safe_load_all((examples / "kubernetes/weir.yaml").read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap", "Deployment", "PodDisruptionBudget"} <= kinds, kinds
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        for volume in pod["volumes"]:
            if "configMap" not in volume:
                continue
            config = volume["configMap"]
            data = maps[config["name"]]["data"]
            items = config.get("items") or [{"key": k, "path": k} for k in data]
            target = root / mounts[volume["name"]].lstrip("/")
            for item in items:
                path = target / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[item["key"]])
        env = dict(os.environ, WEIR_STATE_DIR=str(root / "state"))
        env.update({e["name"]: e["value"] for e in container["env"]})
        pipelines = root / "etc/weir/pipelines"
        check = subprocess.run([weir, "validate", str(pipelines)], env=env,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        print(check.stdout.strip())
    help_text = subprocess.run([weir, "run", "--help"], capture_output=True, text=True).stdout
    flags = [a.split("=")[0] for a in container["args"] if a.startswith("--")]
    unit = (examples / "systemd/weir.service").read_text()
    start = re.search(r"^ExecStart=(.*?)(?<!\\)$", unit, re.S | re.M).group(1)
    flags += re.findall(r"(--[a-z-]+)", start)
    for flag in flags:
        assert flag in help_text, f"`weir run` has no {flag}"
    assert "Type=notify" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    print(f"flags ok: {sorted(set(flags))}")


if __name__ == "__main__":
    main(sys.argv[1], pathlib.Path(sys.argv[2]))
