"""The ``modelyard`` command: a click group whose commands are imported only when run.

``COMMANDS`` maps each command name to ``"module:attribute"``. Listing commands
(``modelyard --help``) reads only this table and each command's short help, kept here
too, so it never imports Feast, pandas or any command module. Each area adds its
commands in its own module ``modelyard/cli/<area>.py`` and one line to ``COMMANDS``.

Plugins add commands through the ``modelyard_register_commands`` hook (datasette's and llm's
``register_commands``); modelyard's own ``ui`` command is added that way too, by the built-in
plugin :mod:`modelyard.cli.ui`. The plugin host is loaded only to list commands or to find one
that ``COMMANDS`` does not have.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from typing import Any

import click

from modelyard import __version__
from modelyard.errors import ModelyardError
from modelyard.features.feast_checks import skip_feast_typechecks

# name -> ("module:attribute", short help shown by ``modelyard --help``). One line per command:
# write the command in modelyard/cli/<area>.py and add its line here. The short help must equal
# the first line of the command's docstring (tests/cli/test_main.py checks it).
# fmt: off
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("modelyard.cli.init:init", "Create a new yard from the template."),
    "apply": ("modelyard.cli.features:apply", "Check the models against the feature repo, then feast apply."),
    "materialize": ("modelyard.cli.features:materialize", "Load feature values into the online store."),
    "features": ("modelyard.cli.features:features", "Show a model's online feature vector for an entity."),
    "push": ("modelyard.cli.features:push", "Write fresh feature rows from FILE through the Feast push source SOURCE."),
    "plugins": ("modelyard.cli.plugins:plugins", "List installed plugins, what they provide, and failures."),
    "models": ("modelyard.cli.models:models", "List, inspect and compare registered model versions."),
    "promote": ("modelyard.cli.models:promote", "Point an alias at a version (recorded in the alias history)."),
    "rollback": ("modelyard.cli.models:rollback", "Move an alias back to its previous holder, from the history."),
    "gc": ("modelyard.cli.models:gc", "Delete versions, snapshots and artifacts the retention policy does not keep."),
    "usage": ("modelyard.cli.models:usage", "Storage per model: artifacts, snapshots and prediction logs, in bytes."),
    "snapshots": ("modelyard.cli.models:snapshots", "List and inspect training-data snapshots."),
    "feedback": ("modelyard.cli.feedback:feedback", "Record ground-truth labels for past predictions of MODEL from FILE."),
    "serve": ("modelyard.cli.serve:serve", "Serve online predictions over HTTP (v1 JSON and Open Inference Protocol v2)."),
    "token": ("modelyard.cli.serve:token", "Make a bearer token for the HTTP API and the config entry that accepts it."),
    "score": ("modelyard.cli.score:score", "Score a table of entity rows with MODEL, features as of each row's time."),
    "containerize": ("modelyard.cli.containerize:containerize", "Write a Docker build context and Kubernetes manifests for serving this yard."),
    "train": ("modelyard.cli.train:train", "Train MODEL with its training function and register the new version."),
    "deploy": ("modelyard.cli.rollout:deploy", "Deploy MODEL at run time: which versions answer and how traffic is split."),
    "rollout": ("modelyard.cli.rollout:rollout", "Inspect and steer a model's rollout: status, history, pause, resume, abort, weights, tick, watch."),
    "experiment": ("modelyard.cli.rollout:experiment", "Analyse experiments: per-variant statistics, significance, sample-ratio checks, shadows."),
    "replay": ("modelyard.cli.rollout:replay", "Re-score a candidate VERSION on logged live requests with point-in-time features."),
    "monitor": ("modelyard.cli.monitor:monitor", "Run a model's monitors over windows of the prediction log."),
    "report": ("modelyard.cli.monitor:report", "Write a self-contained HTML monitoring report of MODEL (or print it as JSON)."),
}
# fmt: on

#: commands that run the user's Feast definitions keep Feast's argument checks (modelyard.features.feast_checks)
CHECKED_COMMANDS = frozenset({"init", "apply"})


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs.

    ModelyardError raised by any command is printed as ``Error: <message>`` with exit
    code 1 and no traceback.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands
        self._plugin_commands: dict[str, click.Command] | None = None

    def plugin_commands(self) -> dict[str, click.Command]:
        """The commands plugins add (``modelyard_register_commands``), collected once per process."""
        if self._plugin_commands is None:
            from modelyard.plugins.manager import PluginHost

            taken = {*self.lazy_commands, *self.commands}
            found = PluginHost.from_entry_points().commands(taken=taken)
            self._plugin_commands = {name: command for name, (command, _) in found.items()}
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx)) | set(self.lazy_commands) | set(self.plugin_commands())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self.lazy_commands.get(cmd_name)
        if entry is None:
            return self.plugin_commands().get(cmd_name)
        return _LazyCommand(cmd_name, entry[0], entry[1])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            message = operational_error(exc)
            if message is None:
                raise  # a bug: the traceback is what its report needs
            logging.getLogger("modelyard.cli").debug("operational error", exc_info=exc)
            raise click.ClickException(message) from None


#: exception classes (module prefix, name) that say a server is unreachable, not that the code is wrong
_OPERATIONAL = {
    ("sqlalchemy", "OperationalError"),
    ("sqlalchemy", "InterfaceError"),
    ("psycopg", "OperationalError"),
    ("redis", "ConnectionError"),
    ("redis", "TimeoutError"),
}


def operational_error(exc: BaseException) -> str | None:
    """One line for an error that means a database or server cannot be reached (None for anything else).

    An unreachable PostgreSQL registry printed a 150-line traceback; what a user needs is
    which server and why, on one line (``-vv`` logs the traceback).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        if isinstance(current, ConnectionError) or any(
            kind.__module__.startswith(module) and kind.__name__ == name for module, name in _OPERATIONAL
        ):
            cause = getattr(current, "orig", None) or current
            detail = " ".join(str(cause).split()) or type(cause).__name__
            return f"cannot reach a server this command needs ({type(cause).__name__}): {detail[:300]}"
        current = current.__cause__ or current.__context__
    return None


class _LazyCommand(click.Command):
    """Stands in for a command in the group's listing; loads the real one when used."""

    def __init__(self, name: str, target: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self.target = target
        self._real: click.Command | None = None

    def load(self) -> click.Command:
        """Import ``module:attribute`` and return the click command it names."""
        if self._real is None:
            module_name, _, attr = self.target.partition(":")
            if self.name not in CHECKED_COMMANDS:
                skip_feast_typechecks()
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] in {"modelyard", "modelyard_plugins"}:
                    raise  # our own module missing is a bug, not a missing extra
                raise click.ClickException(
                    f"the {self.name!r} command needs {exc.name!r}, which is not installed; "
                    "install modelyard with the extra it belongs to, e.g. pip install 'modelyard[serve]'"
                ) from None
            command = getattr(module, attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.target} is not a click command (got {type(command).__name__})")
            self._real = command
        return self._real

    # Everything but the one-line listing is delegated to the real command.
    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        return self.load().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.load().invoke(ctx)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self.load().get_params(ctx)

    def get_help(self, ctx: click.Context) -> str:
        return self.load().get_help(ctx)

    def get_usage(self, ctx: click.Context) -> str:
        return self.load().get_usage(ctx)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        return self.load().shell_complete(ctx, incomplete)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    envvar="MODELYARD_REPO",
    help="The yard directory (Feast repo with modelyard.yaml). Default: the current directory.",
)
@click.option("-v", "--verbose", count=True, help="Log more: -v for info, -vv for debug.")
@click.version_option(__version__, prog_name="modelyard")
@click.pass_context
def main(ctx: click.Context, repo: str | None, verbose: int) -> None:
    """Run ML models in production around a Feast feature store.

    \b
    Example:
      modelyard --repo feature_repo plugins
    """
    _configure_logging(verbose)
    ctx.obj = {"repo": os.path.abspath(repo or os.getcwd())}


#: third-party loggers that set their own level (INFO) on import; kept at WARNING unless -v
CHATTY_LOGGERS = ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny")


def _configure_logging(verbose: int) -> None:
    """Log warnings (or more with -v) to stderr; MODELYARD_TRACE_PLUGINS shows the hook trace.

    Dask's ``distributed`` configures its own INFO logging when imported, in this process and in
    every worker process it starts: without ``-v`` its config is set to WARNING through the
    environment (read by the workers too) before anything imports it.
    """
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # Feast warns on every use of an on-demand view; modelyard supports them fully
        warnings.filterwarnings(
            "ignore", message="On demand feature view is an experimental", category=RuntimeWarning
        )
    if verbose:
        logging.getLogger("modelyard").setLevel(level)
        logging.getLogger("modelyard_plugins").setLevel(level)
    else:
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    if os.environ.get("MODELYARD_TRACE_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}:
        logging.getLogger("modelyard.plugins.trace").setLevel(logging.INFO)


def repo_path(ctx: click.Context) -> str:
    """The ``--repo`` directory of the running command."""
    root = ctx.find_root()
    obj = root.obj or {}
    return str(obj.get("repo") or os.getcwd())


def load_yard(ctx: click.Context) -> Any:
    """Load the :class:`~modelyard.yard.Yard` at ``--repo`` (raises ModelyardError on bad config)."""
    from modelyard.yard import Yard

    return Yard.load(repo_path(ctx))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="modelyard"))
