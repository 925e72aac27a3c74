"""The `dlrun` command: dispatches to a subcommand. Imports nothing heavy so `--help` is instant."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Sequence

from dlrun.errors import DlrunError, one_line

SUBCOMMANDS: dict[str, str] = {
    "train": "train a model: dlrun train model=mlp optimizer.lr=1e-2 (add -m to sweep: seed=1,2,3)",
    "eval": "evaluate a checkpoint on the test split: dlrun eval ckpt=outputs/.../best.pt",
    "predict": 'label new inputs (inputs=FILE_OR_DIR) or generate text (prompt="..."): dlrun predict ckpt=.../best.pt inputs=new/',
    "compare": "table of runs, seeds as mean ± std: dlrun compare outputs/multirun/<dir> (--help)",
    "gradcheck": "autograd vs central differences in float64 (lab 2): dlrun gradcheck model=cnn_mnist_lab2",
}
USAGE = f"usage: dlrun {{{','.join(SUBCOMMANDS)}}} [-m|--multirun] [key=value ...]"


def help_text() -> str:
    """The `dlrun --help` page: subcommands, then each config group with its options."""
    from dlrun.paths import config_dir, config_groups, user_config_dirs

    lines = [USAGE, "", "dlrun: an experiment runner for the deep-learning course (Hydra configs).", ""]
    lines.append("subcommands:")
    lines += [f"  {name:<8} {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", f"config groups (choose with group=option; defaults in {config_dir()}/train.yaml):"]
    if user_config_dirs():
        lines.append(f"  (with your config dirs: {', '.join(str(d) for d in user_config_dirs())})")
    for group, options in config_groups().items():
        wrapped = textwrap.wrap(", ".join(options), width=74)
        lines.append(f"  {group + ':':<13}{wrapped[0]}")
        lines += [" " * 15 + more for more in wrapped[1:]]
    lines += [
        "",
        "examples:",
        "  dlrun train                                  # MLP on the embedded 2-D Gaussian mixture",
        "  dlrun train model=logreg optimizer=sgd optimizer.lr=0.1",
        "  dlrun train -m optimizer.lr=1e-3,1e-2 seed=1,2,3",
        "  dlrun train 'regularizer=[l2,max_norm]' regularizer.regularizers.l2.weight=1e-4   # several at once",
        "  dlrun compare outputs/multirun/<dir> --sort test/acc    # mean ± std over seeds",
        "  dlrun train -m optimizer.lr=1e-3,1e-2 seed=1,2,3 sweep.resume=outputs/multirun/<dir>",
        "  dlrun train -m seed=1,2,3,4 hydra/launcher=joblib hydra.launcher.n_jobs=2",
        "  dlrun train trainer.devices=2                # data-parallel (DDP) in 2 processes",
        "  dlrun train --config-dir ./conf model=tiny   # your own configs (and code: _target_: mymodels.Tiny)",
        "  dlrun train ckpt_path=outputs/<run>/checkpoints/last.pt   # resume",
        "  dlrun eval ckpt=outputs/<run>/checkpoints/best.pt",
        "  tensorboard --logdir outputs",
    ]
    return "\n".join(lines)


def _command(name: str) -> Callable[[list[str]], int]:
    if name == "train":
        from dlrun.launch import main as train_main

        return train_main
    if name == "eval":
        from dlrun.evaluate import main as eval_main

        return eval_main
    if name == "predict":
        from dlrun.predict import main as predict_main

        return predict_main
    if name == "compare":
        from dlrun.compare import main as compare_main

        return compare_main
    if name == "predict":
        from dlrun.predict import main as predict_main

        return predict_main
    if name == "gradcheck":
        from dlrun.gradcheck import main as gradcheck_main

        return gradcheck_main
    raise DlrunError(f"unknown command '{name}' (valid: {', '.join(SUBCOMMANDS)}); see dlrun --help")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code. The console script's process
    (argv None) ends in `command_line.end_process` once a command has run."""
    from dlrun import command_line

    return command_line.end_process(run_command(list(sys.argv[1:] if argv is None else argv), argv is None))


def run_command(args: list[str], whole_process: bool) -> int:
    """Run the command `args` and return its exit code; `whole_process`: the console script's own."""
    try:
        if not args or args[0] in ("-h", "--help", "help"):
            print(help_text())
            return 0 if args else 2
        if args[0] in ("-V", "--version"):
            from dlrun import __version__

            print(f"dlrun {__version__}")
            return 0
        if args[0] in ("-sc", "--shell-completion") or args[0].startswith(("-sc=", "--shell-completion=")):
            args = ["train", *args]  # bash asks `dlrun -sc query=bash`: complete train's overrides
            line = os.environ.get("COMP_LINE", "")
            os.environ["COMP_LINE"] = line.replace(" train ", " ", 1) if " train " in line else line
        from dlrun import command_line
        from dlrun.command_line import import_from_cwd, take_config_dirs

        command_line.whole_process = whole_process  # the console script (a test passes argv)
        command, rest = args[0], take_config_dirs(args[1:])
        import_from_cwd()
        if command == "train" and any(a in ("-h", "--help") for a in rest):
            print(help_text())
            return 0
        return _command(command)(rest)
    except DlrunError as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit_:  # a run's failure policy (dlrun.failure) has printed its one line
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
