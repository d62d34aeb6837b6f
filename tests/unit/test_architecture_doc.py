"""docs/architecture.md is the module map: every module of the packages' top levels (and of the
orchestrator's cli/config/engine/ui) and every sub-package is named there, so the map cannot
drift from the code.  A new module needs a row (or a mention) in the map's tables."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLAT = ("runtime", "net", "orchestrator", "orchestrator/cli", "orchestrator/config",
        "orchestrator/engine", "orchestrator/ui")


def test_every_module_and_subpackage_is_on_the_map() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text()
    missing = [str(py.relative_to(REPO)) for d in FLAT for py in sorted((REPO / d).glob("*.py"))
               if py.stem != "__init__" and f"{py.stem}" not in doc]
    missing += [str(sub.relative_to(REPO)) + "/" for top in ("orchestrator", "runtime", "net")
                for sub in sorted((REPO / top).iterdir())
                if (sub / "__init__.py").exists() and f"{sub.name}/" not in doc]
    assert not missing, ("docs/architecture.md does not name these; add them to the module "
                         f"map: {missing}")
