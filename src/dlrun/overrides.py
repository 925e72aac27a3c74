"""What a command-line override says: the key it sets, and whether it defines what a run computes or
only steers it (sweep.*, ckpt_path, hydra.*); and the list form `regularizer=[a,b]`, rewritten into one
named entry per option before Hydra sees it (Hydra's own select-several would merge the YAMLs)."""

from __future__ import annotations

import re

from dlrun.errors import DlrunError


def override_key(override: str) -> str:
    """`+a.b=1` -> `a.b` (the config key an override sets)."""
    return override.lstrip("+~").split("=", 1)[0]


RUN_CONTROL = ("sweep", "ckpt_path", "resume", "hydra")  # keys that steer a run but never change what it computes


def is_run_control(key: str) -> bool:
    """`sweep.*` (resume, on_error, gpus), `ckpt_path`, `resume.*` and Hydra's own settings."""
    return any(key == k or key.startswith((k + ".", k + "/")) for k in RUN_CONTROL)


def job_identity(overrides: list[str]) -> list[str]:
    """The overrides that define what a job computes (run-control keys left out), a regularizer list
    in its short form (`regularizer=[l2,max_norm]`), as run dir names, hparams and manifests show it."""
    return folded([o for o in overrides if not is_run_control(override_key(o))])


LIST_GROUP = "regularizer"  # the group whose choice may be a list
LIST_OPTION = "list"  # its option that holds the entries: configs/regularizer/list.yaml
_ENTRY = re.compile(r"^\+regularizer@regularizer\.regularizers\.(\w+)=(\w+)$")


def entry_override(name: str) -> str:
    """The Hydra override that adds option `name` of the group as the list's entry `name`."""
    return f"+{LIST_GROUP}@{LIST_GROUP}.regularizers.{name}={name}"


def expand_list_choice(args: list[str]) -> list[str]:
    """`regularizer=[l2,max_norm]` -> `regularizer=list +regularizer@regularizer.regularizers.l2=l2
    +regularizer@regularizer.regularizers.max_norm=max_norm`, so each entry keeps its own keys
    (`regularizer.regularizers.l2.weight=1e-4`); every other arg passes unchanged. Duplicates, unknown
    options and a sweep over lists are one-line errors."""
    out: list[str] = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key != LIST_GROUP or "[" not in value:
            out.append(arg)
            continue
        names = _list_names(arg)
        out += [f"{LIST_GROUP}={LIST_OPTION}", *(entry_override(n) for n in names)]
    return out


def _list_names(arg: str) -> list[str]:
    """The option names of `regularizer=[a,b,...]`, checked."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dlrun.paths import config_groups

    try:
        parsed = OverridesParser.create().parse_override(arg)
    except Exception as err:
        raise DlrunError(f"{arg}: not a valid override ({str(err).splitlines()[0]})") from None
    if parsed.is_sweep_override():
        raise DlrunError(f"{arg}: a sweep over lists of regularizers is not supported; run one sweep per list "
                         f"(e.g. dlrun train -m 'regularizer=[l2,max_norm]' seed=1,2,3) and compare them together")
    value = parsed.value()
    if not isinstance(value, list) or not all(isinstance(v, str) and re.fullmatch(r"\w+", v) for v in value):
        raise DlrunError(f"{arg}: a list of regularizer options is option names, e.g. regularizer=[l2,max_norm]")
    twice = sorted({v for v in value if value.count(v) > 1})
    if twice:
        raise DlrunError(f"{arg}: {', '.join(twice)} given twice; for two entries of one option name them with "
                         f"regularizer=list +regularizer@regularizer.regularizers.<name>=<option>")
    valid = config_groups().get(LIST_GROUP, [])
    unknown = [v for v in value if v not in valid]
    if unknown:
        raise DlrunError(f"{arg}: unknown option '{unknown[0]}' for {LIST_GROUP} (valid: {', '.join(valid)})")
    return list(value)


def folded(overrides: list[str]) -> list[str]:
    """The inverse of expand_list_choice for display: `regularizer=list` and its entries (each named
    after its option) -> `regularizer=[l2,max_norm]` in the place of `regularizer=list`."""
    choice = f"{LIST_GROUP}={LIST_OPTION}"
    if choice not in overrides:
        return list(overrides)
    names = [m.group(1) for m in map(_ENTRY.match, overrides) if m and m.group(1) == m.group(2)]
    out = []
    for o in overrides:
        match = _ENTRY.match(o)
        if match and match.group(1) == match.group(2):
            continue
        out.append(f"{LIST_GROUP}=[{','.join(names)}]" if o == choice else o)
    return out
