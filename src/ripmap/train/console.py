"""What the trainer says on stderr: one-line notes, and a live status line while it works.

stdout is kept for results a user may pipe (tables, views); everything else goes here.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from ..errors import RipmapError, drop_stdout, finish_stdout

PROG = "ripmap-train"


def say(msg: str) -> None:
    """A note to the user, one line, prefixed like every trainer message."""
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


#: packages of the ``train`` extra: a missing one is an install problem, not a bug
TRAIN_EXTRAS = ("optuna", "matplotlib", "httpx", "cmaes")


def report_unexpected(prog: str, e: Exception, args: Sequence[str]) -> int:
    """The exit code for an exception no trainer command expected, after one line on
    stderr: a missing training extra names its install command; anything else is a bug,
    reported with its first line (its traceback with ``-v``; raised again under
    ``RIPMAP_DEBUG``)."""
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in TRAIN_EXTRAS:
        print(f"{prog}: error: this needs the training extras ({e.name} is missing): "
              "pip install 'ripmap[train]'", file=sys.stderr)
        return 1
    if os.environ.get("RIPMAP_DEBUG"):
        raise e
    verbose = "-v" in args or "--verbose" in args
    if _storage_failure(e):
        # a locked, full or unreachable study database: the machine's trouble, not a bug.
        # Optuna's own message guesses at "invalid data"; the database's error is the cause
        cause = e.__cause__ or e
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if verbose:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
        print(f"{prog}: error: the study's database failed: {first} (finished trials are kept in it: "
              "run the same command again to go on)", file=sys.stderr)
        return 1
    if verbose:
        import traceback

        traceback.print_exception(e, file=sys.stderr)
    first = (str(e).strip().splitlines() or [""])[0]
    print(f"{prog}: internal error: {type(e).__name__}: {first} (please report"
          + ("; the traceback is above)" if verbose else "; run with -v for the traceback)"), file=sys.stderr)
    return 1



def _storage_failure(e: BaseException) -> bool:
    """Whether ``e`` is Optuna's report of a failed storage operation."""
    optuna_exc = sys.modules.get("optuna.exceptions")
    return optuna_exc is not None and isinstance(e, optuna_exc.StorageInternalError)


def run_entry(prog: str, run: Callable[[list[str]], int], args: list[str], interrupted: str) -> int:
    """The shell of a trainer entry point around ``run(args)``: a closed pipe, argparse's
    exit, a ripmap error, Ctrl-C (``interrupted`` says what is kept) and anything
    unexpected each end in one line on stderr and an exit code, never a traceback."""
    try:
        code = run(args)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # `ripmap-train runs list | head -1`: the reader has all it wants
        drop_stdout()
        return 0
    except SystemExit:  # argparse: --help, bad usage
        finish_stdout()
        raise
    except RipmapError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted ({interrupted})", file=sys.stderr)
        return 130
    except Exception as e:
        return report_unexpected(prog, e, args)

class Status:
    """A live progress line: redrawn in place on a terminal, or one line per update with
    ``verbose`` (so a log keeps every step); silent otherwise."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.tty = sys.stderr.isatty()
        self._open = False

    def show(self, line: str, *, keep: bool = False) -> None:
        """Draw ``line``; ``keep`` ends it with a newline on a terminal too (an episode's summary)."""
        if self.verbose or (keep and self.tty):
            self.close()
            print(line, file=sys.stderr, flush=True)
        elif self.tty:
            sys.stderr.write("\r\x1b[K" + line)
            sys.stderr.flush()
            self._open = True

    def close(self) -> None:
        if self._open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._open = False


__all__ = ["PROG", "Status", "say"]
