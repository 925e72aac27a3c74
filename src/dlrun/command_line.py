"""Hydra's command-line flags as dlrun takes them. The user's config dirs (`--config-dir DIR`,
`--config-dir=DIR`, `-cd DIR`, `hydra.searchpath=[file://DIR]`) are recorded once and searched after
dlrun's tree; Hydra's info flags (`--cfg job`, `--info`, `--resolve`, `--package`, `-sc ...`) go to
Hydra as they are, in both spellings; everything else is an override."""

from __future__ import annotations

import os
import sys

from dlrun.errors import DlrunError
from dlrun.paths import add_user_config_dir

CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
VALUE_FLAGS = ("--cfg", "-c", "--package", "-p")
INFO_FLAGS = ("--cfg", "-c", "--info", "-i", "--hydra-help", "--shell-completion", "-sc")
INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")
REFUSED = ("--config-name", "-cn", "--config-path", "-cp")
whole_process = False  # set by the console script: this process runs one command and exits (freeze_start_up, end_process)


def flag_name(arg: str) -> str:
    """`--cfg=job` -> `--cfg`; an override or value -> itself."""
    return arg.split("=", 1)[0] if arg.startswith("-") else arg


def take_config_dirs(args: list[str]) -> list[str]:
    """Record the config dirs named in `args` (see the module doc) and return the other args."""
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        name = flag_name(arg)
        if name in REFUSED:
            raise DlrunError(f"{name}: dlrun's primary config is its train.yaml; add your own groups and presets with --config-dir DIR")
        if name in CONFIG_DIR_FLAGS:
            value = arg.split("=", 1)[1] if "=" in arg else next(items, None)
            if not value:
                raise DlrunError(f"{name} needs a folder: {name} DIR")
            add_user_config_dir(value)
        elif arg.startswith(("hydra.searchpath=", "+hydra.searchpath=", "++hydra.searchpath=")):
            for entry in arg.split("=", 1)[1].strip("[] ").split(","):
                entry = entry.strip().strip("'\"")
                if not entry.startswith("file://"):
                    raise DlrunError(f"hydra.searchpath entry '{entry}': dlrun adds folders (file://DIR); use --config-dir DIR")
                add_user_config_dir(entry.removeprefix("file://"))
        else:
            rest.append(arg)
    return rest


def split_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(flags with their values, overrides) of `dlrun train` args."""
    flags: list[str] = []
    overrides: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        name = flag_name(arg)
        if not arg.startswith("-"):
            overrides.append(arg)
        elif name in VALUE_FLAGS and "=" not in arg and index + 1 < len(args):
            flags += [arg, args[index + 1]]
            index += 1
        elif name in ("--info", "-i") and "=" not in arg and index + 1 < len(args) and args[index + 1] in INFO_CHOICES:
            flags += [arg, args[index + 1]]
            index += 1
        else:
            flags.append(arg)
        index += 1
    return flags, overrides


def wants_info(flags: list[str]) -> bool:
    """True when Hydra is asked to print something (config, info, completion) instead of running."""
    return any(flag_name(f) in INFO_FLAGS for f in flags)


def import_from_cwd() -> None:
    """A `_target_` may name a module in the current folder (e.g. mymodels.Tiny), as `python -m`
    would find it; job processes of launchers inherit the same path."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *parts])


def freeze_start_up() -> None:
    """In a process that runs one command and exits, move what start-up created (torch's modules,
    Hydra, the composed configs) out of the garbage collector's reach: they live until exit, and
    every full collection would walk them again (about 0.1 s each with torch loaded, and once more at
    exit). A library call (a test) keeps its normal collector."""
    if whole_process:
        import gc

        gc.freeze()


def end_process(code: int) -> int:
    """In a process that runs one command, exit with `code` as Python's own exit would (atexit handlers
    run, stdout and stderr flushed) but without the interpreter's teardown, which frees every module and
    object one by one: about 0.17 s with torch loaded, for nothing, as every file of the run is closed by
    then. Where a thread that is not a daemon still runs (a thread pool's, joblib's executor manager),
    Python's exit must first tell it to stop and join it, so that process exits the usual way; so does a
    library call (a test): both get `code` back."""
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if not whole_process or others:
        return code
    import atexit

    atexit._run_exitfuncs()  # what the interpreter runs at exit: multiprocessing's, logging's, the run logger's
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)
