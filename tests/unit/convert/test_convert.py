"""`pystack convert`: golden manifests for a corpus of stacks, every object valid against
the official Kubernetes OpenAPI schemas of two versions (strict: no unknown fields), the
NetworkPolicies encoding Compose's reachability, warnings with FILE:LINE:COL, secrets kept
off standard output, deterministic DNS-1123 names."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pystack.orchestrator.cli.main import GlobalOptions, cli
from pystack.orchestrator.config.project import load_project
from pystack.orchestrator.convert import manifests, names
from pystack.orchestrator.convert.context import Options
from pystack.orchestrator.convert.positions import source
from pystack.orchestrator.errors import ConfigError

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
GOLDEN = HERE / "golden"
VERSIONS = ("1.30.0", "1.37.0")
UPDATE = os.environ.get("PYSTACK_UPDATE_GOLDEN") == "1"
ENV = {"PATH": "/usr/bin:/bin", "DB_PASSWORD": "s3cret"}


def _corpus() -> dict[str, Path]:
    files = {f"stack-{p.stem}": p for p in sorted((HERE / "stacks").glob("*.yml"))}
    for p in sorted((ROOT / "examples").glob("*/*.yml")):
        files[f"example-{p.parent.name}-{p.stem}"] = p
    for case in sorted((ROOT / "tests/conformance/cases").iterdir()):
        spec = case / "case.json"
        if not spec.is_file() or case.name.startswith(("err_", "strict_")):
            continue
        meta = json.loads(spec.read_text())
        if meta.get("env") or meta.get("env_files") or meta.get("profiles"):
            continue                    # cases that need their own environment
        first = (meta.get("files") or ["compose.yaml"])[0]
        if (case / first).is_file():
            files[f"conformance-{case.name}"] = case / first
    return files


CORPUS = _corpus()


def _convert(path: Path, **opts: Any) -> manifests.Result:
    g = GlobalOptions(files=(str(path),), project_directory=str(path.parent), environ=ENV)
    project = load_project(g)
    return manifests.convert(project, Options(**opts), (), source(g))


def _normal(text: str) -> str:
    """Paths relative to the checkout, wherever it is and whatever the cwd."""
    text = text.replace(str(ROOT) + "/", "")
    rel = os.path.relpath(ROOT)
    return text if rel == "." else text.replace(rel + "/", "")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_golden_and_valid(name: str) -> None:
    try:
        result = _convert(CORPUS[name])
    except ConfigError as e:
        pytest.skip(f"not loadable outside its case runner: {e}")
    text = _normal(manifests.render(result, "yaml")
                   + "".join(f"# warning: {w}\n" for w in result.warnings))
    golden = GOLDEN / f"{name}.yaml"
    if UPDATE or not golden.exists():
        golden.write_text(text)
    assert text == golden.read_text(), f"{name}: regenerate with PYSTACK_UPDATE_GOLDEN=1"
    import kubernetes_validate as kv

    for obj in result.objects:
        for v in VERSIONS:
            kv.validate(obj, v, strict=True)
        md = obj["metadata"]
        assert len(md["name"]) <= 63 and names.label(md["name"]) == md["name"], md["name"]
        assert md["labels"]["app.kubernetes.io/managed-by"] == "pystack"


def test_output_is_deterministic() -> None:
    a = manifests.render(_convert(HERE / "stacks/full.yml"), "yaml")
    b = manifests.render(_convert(HERE / "stacks/full.yml"), "yaml")
    assert a == b


# --- reachability: the policies allow exactly what Compose allows ---------------------------

def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _pods(result: manifests.Result) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
            for o in result.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")}


def _allowed(result: manifests.Result, src: dict[str, str], dst: dict[str, str]) -> bool:
    pols = [o["spec"] for o in result.objects if o["kind"] == "NetworkPolicy"]
    ingress = [p for p in pols if "Ingress" in p["policyTypes"]
               and _matches(p["podSelector"], dst)]
    ok_in = not ingress or any(
        "from" in r and any(_matches(f.get("podSelector", {}), src) for f in r["from"])
        for p in ingress for r in p.get("ingress", []))
    egress = [p for p in pols if "Egress" in p["policyTypes"]
              and _matches(p["podSelector"], src)]
    ok_out = not egress or any(
        any("podSelector" in t and "namespaceSelector" not in t
            and _matches(t["podSelector"], dst) for t in r.get("to", []))
        for p in egress for r in p.get("egress", []))
    return ok_in and ok_out


def test_network_policies_encode_compose_reachability() -> None:
    g = GlobalOptions(files=(str(HERE / "stacks/full.yml"),), environ=ENV)
    project = load_project(g)
    result = manifests.convert(project, Options())
    pods = _pods(result)
    for a, sa in project.services.items():
        for b, sb in project.services.items():
            if a == b or a == "cache" or b == "cache":       # network_mode: host (warned)
                continue
            compose = bool(set(sa.networks) & set(sb.networks))
            assert _allowed(result, pods[a], pods[b]) == compose, (a, b)


def test_internal_network_has_no_egress_but_dns() -> None:
    result = _convert(HERE / "stacks/full.yml")
    pols = {o["metadata"]["name"]: o["spec"] for o in result.objects
            if o["kind"] == "NetworkPolicy"}
    db = pols["db-internal"]
    assert db["policyTypes"] == ["Egress"]
    assert all("ipBlock" not in t for r in db["egress"] for t in r.get("to", []))
    assert "api-internal" not in pols            # api is also on front: it may go out


# --- mappings --------------------------------------------------------------------------------

def _obj(result: manifests.Result, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in result.objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_workload_kinds_probes_and_waits() -> None:
    r = _convert(HERE / "stacks/full.yml")
    db = _obj(r, "StatefulSet", "db")
    assert db["spec"]["serviceName"] == "db" and db["spec"]["replicas"] == 1
    job = _obj(r, "Job", "migrate")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    api = _obj(r, "Deployment", "api")
    pod = api["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert api["spec"]["replicas"] == 3
    assert c["command"] == ["/entrypoint.sh"] and c["args"][0] == "gunicorn"
    assert c["readinessProbe"]["periodSeconds"] == 10
    assert c["readinessProbe"]["failureThreshold"] == 5
    assert c["readinessProbe"]["timeoutSeconds"] == 3
    assert c["startupProbe"] == {**c["readinessProbe"], "periodSeconds": 2,
                                 "failureThreshold": 15 + 5}
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"},
                              "requests": {"cpu": "250m", "memory": "128Mi"}}
    assert c["securityContext"] == {"capabilities": {"add": ["NET_BIND_SERVICE"],
                                                     "drop": ["ALL"]},
                                    "allowPrivilegeEscalation": False}
    assert pod["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000}
    assert pod["terminationGracePeriodSeconds"] == 20
    assert pod["hostAliases"] == [{"ip": "10.1.2.3", "hostnames": ["legacy.local", "old.local"]}]
    waits = [i["name"] for i in pod["initContainers"]]
    assert waits == ["wait-for-jobs", "wait-for-db"]
    assert pod["initContainers"][0]["command"][-1] == "job/migrate"
    assert pod["serviceAccountName"] == "api-waiter"
    _obj(r, "Role", "api-waiter")
    _obj(r, "Service", "backend")                       # the network alias
    pvc = _obj(r, "PersistentVolumeClaim", "shop-pgdata")
    assert pvc["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                           "resources": {"requests": {"storage": "5Gi"}}}
    proxy = _obj(r, "Deployment", "proxy")["spec"]["template"]["spec"]
    assert {"name": "v0", "emptyDir": {"medium": "Memory", "sizeLimit": str(64 << 20)}} in \
        proxy["volumes"]
    pub = _obj(r, "Service", "proxy-published")["spec"]
    assert pub["type"] == "NodePort"
    assert [p.get("nodePort") for p in pub["ports"]] == [None, 30443]


def test_warnings_name_file_line_for_what_cannot_be_expressed() -> None:
    r = _convert(HERE / "stacks/full.yml")
    w = [x for x in r.warnings if "services.cache.network_mode" in x]
    assert w and w[0].split(":")[0].endswith("stacks/full.yml") and w[0].split(":")[1] == "79"
    assert any(x.split(":")[1] == "80" and "services.cache.pid" in x for x in r.warnings)


def test_secret_values_stay_off_stdout_unless_asked(tmp_path: Path) -> None:
    stack = str(HERE / "stacks/full.yml")
    runner = CliRunner()
    out = runner.invoke(cli, ["-f", stack, "convert"], env=ENV)
    assert out.exit_code == 0, out.output
    assert "s3cret" not in out.output and "czNjcmV0" not in out.output
    out = runner.invoke(cli, ["-f", stack, "convert", "--secret-values", "--format", "json"],
                        env=ENV)
    assert "czNjcmV0" in out.stdout
    d = tmp_path / "k8s"
    out = runner.invoke(cli, ["-f", stack, "convert", "-o", str(d), "--kustomize", "-n", "shop"],
                        env=ENV)
    assert out.exit_code == 0, out.output
    secret = d / "secret-shop-db-password-secret.yaml"
    assert (secret.stat().st_mode & 0o777) == 0o600
    assert "czNjcmV0" in secret.read_text()
    k = yaml.safe_load((d / "kustomization.yaml").read_text())
    assert k["namespace"] == "shop" and "kustomization.yaml" not in k["resources"]
    assert len(k["resources"]) == len(list(d.glob("*.yaml"))) - 1


def test_bad_namespace_and_unknown_service_are_clear_errors() -> None:
    runner = CliRunner()
    stack = str(HERE / "stacks/stack-a.yml")
    out = runner.invoke(cli, ["-f", stack, "convert", "-n", "Bad_NS"], env=ENV)
    assert out.exit_code == 2 and "DNS-1123" in out.output
    out = runner.invoke(cli, ["-f", stack, "convert", "nosuch"], env=ENV)
    assert out.exit_code != 0 and "nosuch" in out.output


@given(st.text(min_size=0, max_size=200))
def test_label_is_always_a_dns_1123_label(text: str) -> None:
    out = names.label(text)
    assert 1 <= len(out) <= 63
    assert out[0].isalpha() and out[-1].isalnum()
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in out)
    assert names.label(text) == out
    if len(text) > 70:
        assert names.label(text + "x") != out or len(out) < 63
