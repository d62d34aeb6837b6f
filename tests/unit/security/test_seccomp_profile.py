"""Reading Docker seccomp JSON profiles: the supported subset, and exact errors for the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.errors import SecurityConfigError
from pystack.runtime.security import caps, seccomp
from pystack.runtime.security.seccomp_model import Arg, load_profile, parse_profile

DOCKER_LIKE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [
        {"names": ["read", "write", "exit_group", "not_a_syscall_here"],
         "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"name": "arch_prctl", "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    ],
}


def test_parse_docker_like_profile(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps(DOCKER_LIKE))
    prof = load_profile(str(f))
    assert prof.default_action == "SCMP_ACT_ERRNO" and len(prof.rules) == 6
    assert prof.rules[1].args == (Arg(0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),)
    assert prof.rules[3].min_kernel == (4, 8)
    assert prof.rules[4].names == ("arch_prctl",)
    prog = seccomp.build_filter(caps.DEFAULT, str(f))
    assert prog is not None and len(prog) % 8 == 0


@pytest.mark.parametrize(("doc", "msg"), [
    ([], "seccomp profile : the document must be a JSON object"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"},
     "seccomp profile defaultAction: action SCMP_ACT_NOTIFY is not supported by pystack"),
    ({"defaultAction": "ALLOW"}, "seccomp profile defaultAction: unknown action 'ALLOW'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]},
     "seccomp profile syscalls[0].action: unknown action None"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]},
     "seccomp profile syscalls[0]: has no syscall names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "seccomp profile syscalls[0].args[0]: argument index 6 is not 0..5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BETWEEN"}]}]},
     "seccomp profile syscalls[0].args[0]: unsupported op 'SCMP_CMP_BETWEEN' (supported: "
     "SCMP_CMP_EQ, SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_GT, SCMP_CMP_GE, "
     "SCMP_CMP_MASKED_EQ)"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]},
     "seccomp profile syscalls[0].args[0]: -1 is not an unsigned 64-bit integer"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/x.sock"},
     "seccomp profile listenerPath: user notification is not supported by pystack"),
])
def test_bad_profiles_are_clear_errors(doc: Any, msg: str) -> None:
    with pytest.raises(SecurityConfigError) as e:
        parse_profile(doc)
    assert str(e.value) == msg


def test_unreadable_and_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(SecurityConfigError) as e:
        load_profile(str(tmp_path / "missing.json"))
    assert str(e.value) == f"cannot read seccomp profile {tmp_path}/missing.json: " \
                           "No such file or directory"
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SecurityConfigError) as e:
        load_profile(str(bad))
    assert str(e.value).startswith(f"seccomp profile {bad} is not valid JSON: ")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**65) | st.sampled_from(
        ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_CMP_EQ", "read", "CAP_SYS_ADMIN", "4.8"]),
    lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.sampled_from(
        ["defaultAction", "syscalls", "names", "name", "action", "args", "index", "value",
         "valueTwo", "op", "includes", "excludes", "caps", "errnoRet", "minKernel"]), ch,
        max_size=5),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(doc=json_values)
def test_any_document_parses_or_fails_cleanly(doc: Any) -> None:
    try:
        prof = parse_profile(doc)
    except SecurityConfigError:
        return
    seccomp.compile_profile(prof, caps.DEFAULT)
