"""deploy/kubernetes: the manifests are valid Kubernetes (kubernetes-validate, strict) and have the shape
docs/kubernetes.md promises: one uid, an in-memory emptyDir shared by the app and the pgiam sidecar,
PGPASSFILE/PGSERVICEFILE into it, a loop interval pgiam itself accepts, an IRSA service account."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgiam.config import model
from pgiam.host import schedule
from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "kubernetes"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))


def validator() -> str:
    exe = Path(sys.executable).parent / "kubernetes-validate"
    found = str(exe) if exe.exists() else shutil.which("kubernetes-validate")
    assert found, "kubernetes-validate is in the test extra: `make venv`"
    return found


def docs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out[doc["kind"]] = doc
    return out


def test_manifests_pass_strict_validation() -> None:
    assert {p.name for p in MANIFESTS} >= {"deployment.yaml", "serviceaccount.yaml", "configmap.yaml"}
    r = subprocess.run([validator(), "--strict", *map(str, MANIFESTS)], capture_output=True, text=True,
                       check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed") == len(MANIFESTS), r.stdout


def test_strict_validation_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    doc = docs()["Deployment"]
    doc["spec"]["template"]["spec"]["containers"][0]["envv"] = []  # a typo strict mode must catch
    bad.write_text(yaml.safe_dump(doc))
    r = subprocess.run([validator(), "--strict", str(bad)], capture_output=True, text=True, check=False)
    assert r.returncode != 0


def _containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in [*pod.get("initContainers", []), *pod["containers"]]}


def _env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def test_the_pod_shares_an_in_memory_dir_under_one_uid() -> None:
    d = docs()
    pod = d["Deployment"]["spec"]["template"]["spec"]
    ctx = pod["securityContext"]
    assert isinstance(ctx["runAsUser"], int) and ctx["runAsUser"] > 0 and ctx["runAsNonRoot"] is True
    assert "fsGroup" not in ctx  # it would make the files group-owned; libpq wants 0600
    cs = _containers(pod)
    assert set(cs) == {"app", "pgiam"}
    for c in cs.values():
        assert c.get("securityContext", {}).get("runAsUser", ctx["runAsUser"]) == ctx["runAsUser"]
    mem = [v for v in pod["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
    assert len(mem) == 1
    assert not [v for v in pod["volumes"] if "secret" in v or "projected" in v]
    mounts = {name: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for name, c in cs.items()}
    shared = mounts["pgiam"][mem[0]["name"]]
    assert mounts["app"][mem[0]["name"]] == shared
    for c in cs.values():
        env = _env(c)
        for var in ("PGPASSFILE", "PGSERVICEFILE"):
            assert Path(env[var]).parent == Path(shared), (c["name"], var)
    assert _env(cs["pgiam"])["PGPASSFILE"] == _env(cs["app"])["PGPASSFILE"]


def test_the_sidecar_loops_with_an_interval_pgiam_accepts() -> None:
    d = docs()
    pod = d["Deployment"]["spec"]["template"]["spec"]
    side = _containers(pod)["pgiam"]
    assert side.get("restartPolicy") == "Always"  # a native sidecar
    args = side["args"]
    assert args[:2] == ["refresh", "--every"] and len(args) == 3
    cfg = d["ConfigMap"]["data"]["config.toml"]
    services = _load(cfg)
    assert services
    schedule.check_every(schedule.parse_every(args[2]), services)
    assert _env(side)["PGIAM_CONFIG"].endswith("/config.toml")


def _load(text: str) -> list[model.Service]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "config.toml"
        p.write_text(text)
        return list(model.load(p).services.values())


def test_the_service_account_is_annotated_for_irsa() -> None:
    d = docs()
    sa = d["ServiceAccount"]
    assert d["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert arn.startswith("arn:aws:iam::") and ":role/" in arn
    assert "Pod Identity" in (DEPLOY / "serviceaccount.yaml").read_text()


def test_the_containerfile_runs_pgiam_as_the_pods_uid() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    uid = docs()["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"USER {uid}:" in text and 'ENTRYPOINT ["pgiam"]' in text


@pytest.mark.parametrize("topic", ["fsGroup", "0600", "emptyDir", "runAsUser", "IRSA", "Pod Identity"])
def test_the_doc_explains(topic: str) -> None:
    assert topic in (REPO / "docs" / "kubernetes.md").read_text()
