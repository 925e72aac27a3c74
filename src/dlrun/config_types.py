"""The one place config values are checked: a node against the signature of the class its `_target_`
names (nested options typed as TypedDicts are checked key by key), and the root of train.yaml
against `Root`. Unknown keys, missing required keys and values of the wrong type become one-line
errors that name the key and what it expects."""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from dlrun.data.keys import renamed_message
from dlrun.errors import DlrunError


def locate(target: str) -> Any:
    """The object a `_target_` names (hydra.utils.get_object), or a one-line error."""
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception as err:
        raise DlrunError(f"cannot import '{target}': {str(err).splitlines()[0]}") from err


def _hints(target: Any) -> dict[str, Any]:
    """The type hints of what a call of `target` runs: a class's own or inherited `__init__` (its own `__new__`)."""
    func = target
    if inspect.isclass(target):
        func = target.__new__ if "__new__" in vars(target) else target.__init__
    try:
        return typing.get_type_hints(func)
    except Exception:
        return {}


def matches(value: Any, hint: Any) -> bool:
    """Whether a plain config value fits a type hint (unknown hints accept anything)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return not args or all(matches(v, args[0]) for v in value)
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        return isinstance(value, dict)
    return True


def describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} values"
    if origin in (list, tuple, collections.abc.Sequence):
        return f"a list of {describe(args[0]).removeprefix('an ').removeprefix('a ')}s" if args else "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    return getattr(hint, "__name__", str(hint))


def _typed_dict(hint: Any) -> Any:
    """The TypedDict in `hint` (`Options` or `Options | None`), or None."""
    if typing.is_typeddict(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if typing.is_typeddict(a)]
        return found[0] if found else None
    return None


class UnknownKeys(DlrunError):
    """Keys a nested option (a TypedDict) does not have: `unknown`, in the order given, and the `valid` ones."""

    def __init__(self, key: str, unknown: list[str], valid: list[str]) -> None:
        self.key, self.unknown, self.valid = key, unknown, valid
        super().__init__(f"unknown key '{key}.{unknown[0]}' (valid keys: {', '.join(valid)})")


def check_value(key: str, value: Any, hint: Any) -> None:
    """Raise DlrunError if `value` (plain data) does not fit `hint`; a dict for a TypedDict is
    checked key by key (unknown keys named with their valid neighbours: UnknownKeys; the keys of a
    total TypedDict are required)."""
    options = _typed_dict(hint)
    if options is not None and isinstance(value, dict):
        fields = typing.get_type_hints(options)
        unknown = [name for name in value if name not in fields]
        if unknown:
            raise UnknownKeys(key, unknown, list(fields))
        missing = [name for name in fields if name in options.__required_keys__ and name not in value]
        if missing:
            raise DlrunError(f"{key}: {', '.join(missing)} must be set")
        for name, item in value.items():
            check_value(f"{key}.{name}", item, fields[name])
        return
    if not matches(value, hint):
        raise DlrunError(f"{key}: expected {describe(hint)}, got {value!r}")


def checked_options(name: str, given: Mapping[str, Any] | None, options: Any) -> dict[str, Any]:
    """`given` (a nested option such as dataset.augment) as a dict, checked against the TypedDict
    `options` by check_value, for a constructor called from Python rather than through a config
    (where check_node has already run the same check): a ValueError, as for any rejected argument."""
    given = dict(given or {})
    try:
        check_value(name, given, options)
    except UnknownKeys as err:
        raise ValueError(f"unknown {name} keys {sorted(err.unknown)} (valid: {', '.join(err.valid)})") from None
    except DlrunError as err:
        raise ValueError(str(err)) from None
    return given


class ResumeOptions(typing.TypedDict):
    """`resume.*`: the config keys a resume may change beyond the free ones (dlrun.resume)."""

    allow_changes: list[str]


class Root(typing.TypedDict):
    """The top-level keys of train.yaml that a run reads (groups are checked by their targets)."""

    seed: int
    name: str
    tags: list[str]
    ckpt_path: str | None
    resume: ResumeOptions
    optimized_metric: str | None
    encoder_ckpt: str | None


def check_root(cfg: Any) -> None:
    """The top-level keys of the composed train config, against `Root`."""
    from omegaconf import OmegaConf

    for key, hint in typing.get_type_hints(Root).items():
        if key not in cfg:
            continue
        if key == "name" and "${" in str(OmegaConf.to_container(cfg, resolve=False).get(key)):
            continue  # name: ${hydra:runtime.choices.model}-... resolves only inside the job
        value = OmegaConf.select(cfg, key)
        if not isinstance(value, (str, int, float, bool, type(None))):
            value = OmegaConf.to_container(value, resolve=True)
        check_value(key, value, hint)
        if key == "seed" and isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise DlrunError(f"seed: must fit in 64 bits (|seed| < 2**63), got {value}")


def check_node(key: str, node: dict[str, Any], ignore: tuple[str, ...] = (), provided: tuple[str, ...] = ()) -> None:
    """Raise DlrunError if `node` (a plain dict with `_target_`) has a key its target does not take,
    lacks one it requires (unless `provided` by the caller or the node is `_partial_`), or has a
    value of the wrong type. `key` is where the node sits in the config (e.g. 'model')."""
    target_name = node.get("_target_")
    if not isinstance(target_name, str):
        return
    target = locate(target_name)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    hints = _hints(target)
    valid = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in ("self", "cls")]
    for name, value in node.items():
        if name.startswith("_") or name in ignore:
            continue
        renamed = renamed_message(f"{key}.{name}") if name not in params else None
        if renamed is not None:
            raise DlrunError(renamed)
        if name not in params and not takes_any:
            raise DlrunError(f"unknown key '{key}.{name}' for {target_name} (valid keys: {', '.join(valid + list(ignore))})")
        hint = hints.get(name)
        if value is None and name in params and params[name].default is None:
            continue
        if hint is not None:
            check_value(f"{key}.{name}", value, hint)
    if not node.get("_partial_"):
        missing = [n for n in valid if params[n].default is inspect.Parameter.empty and n not in node and n not in provided]
        if missing:
            raise DlrunError(f"{key}: {', '.join(missing)} must be set ({target_name} has no default for it)")
