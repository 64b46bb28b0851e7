"""The import-linter contracts name every domain module, so a new one is held to the rules."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS_AND_PROCESS = {"slack", "teams", "crm", "charts", "demo", "service"}


def _domain_on_disk() -> set[str]:
    """`bot`'s modules and packages, but for the adapter, the process and the entry points."""
    found = set()
    for path in (ROOT / "bot").iterdir():
        if path.name in ADAPTERS_AND_PROCESS or path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            found.add(f"bot.{path.name}")
        elif path.suffix == ".py":
            found.add(f"bot.{path.stem}")
    return found


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_the_domain_layer_names_every_domain_module():
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    domain = {name.strip() for name in layers["layers"][2].split(":")}
    assert domain == _domain_on_disk()


def test_the_domain_contract_names_every_domain_module():
    (contract,) = [c for c in _contracts() if c["name"].startswith("The domain imports")]
    assert set(contract["source_modules"]) == _domain_on_disk()
