"""Reading `agreement.yml`: YAML, then the agreement's own checks, every error with its place.

Errors name the key and its line in the file, because the people who edit the
agreement are sales and marketing leads, not the engineers who run Baton.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.agreement import CHECK, ROLES, AddressCheck, Agreement


class AgreementError(Exception):
    """The agreement file cannot be used; `problems` has one line per error with its place."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans only, so `countries: [DK, SE, NO]` keeps Norway."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path of the document to its 1-based line, for error messages."""
    found = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            found[child] = key.start_mark.line + 1
            found.update({k: v for k, v in _lines(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_lines(item, (*path, index)))
    return found


def _describe(error: dict[str, Any], lines: dict[tuple[Any, ...], int], file: str) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    loc = tuple(part for part in loc if part not in ("literal['sales_manager','ceo','owner']",))
    place = ".".join(str(part) for part in loc) or "(top level)"
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":
        message = "is not a key of the agreement"
    elif error["type"] == "literal_error" and loc and loc[-1] == "notify":
        message = f'"{error["input"]}" names nobody: use one of {", ".join(ROLES)}'
    elif error["type"] == "literal_error" and loc == ("routing", "mode"):
        message = (
            f'"{error["input"]}" is not a routing mode: use claim, round_robin or least_loaded'
        )
    elif error["type"] == "greater_than" and loc[:1] == ("routing",):
        message = f"{error['input']} is not a positive whole number: give 1 or more"
    where = f"{file}:{line}: " if line else f"{file}: "
    return f"{where}{place}: {message}"


def parse_agreement(
    text: str,
    source: str = "agreement.yml",
    *,
    addresses: AddressCheck | Mapping[str, AddressCheck] | None = None,
) -> Agreement:
    """Validate agreement text; raise AgreementError with every problem and its line.

    `addresses` is the chat platform's check of the ids that name people and channels, or
    each platform's check by name: then the one of the agreement's `platform` applies."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise AgreementError(Path(source), [f"{source}{line}: not valid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise AgreementError(Path(source), [f"{source}: the agreement must be a YAML mapping"])
    lines = _lines(node) if node is not None else {}
    try:
        check = addresses
        if isinstance(addresses, Mapping):
            check = addresses.get(str(data.get("platform") or "slack"))
        agreement = Agreement.model_validate(data, context={CHECK: check})
    except ValidationError as error:
        problems = [_describe(e, lines, source) for e in error.errors()]
        raise AgreementError(Path(source), problems) from None
    contradictions = agreement.contradictions()
    if contradictions:
        problems = [
            _describe({"loc": loc, "msg": message, "type": "contradiction"}, lines, source)
            for loc, message in contradictions
        ]
        raise AgreementError(Path(source), problems)
    return agreement


def place(path: Path, *keys: str | int) -> str:
    """`file:line: key.path` for a key of the agreement file, to name it in a message."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        node = None
    line = _lines(node).get(keys) if node is not None else None
    named = ".".join(str(key) for key in keys)
    return f"{path}:{line}: {named}" if line else f"{path}: {named}"


def load_agreement(
    path: Path, *, addresses: AddressCheck | Mapping[str, AddressCheck] | None = None
) -> Agreement:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgreementError(
            path,
            [f"{path}: not found; set BATON_AGREEMENT or copy agreement.example.yml there"],
        ) from None
    return parse_agreement(text, str(path), addresses=addresses)
