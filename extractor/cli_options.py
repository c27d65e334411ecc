"""Command-line options read from the configuration models, so that a setting is declared once.

`@config_options(config=RunConfig)` gives a typer command one option per field of `RunConfig`
(recursing into nested models such as `ParseLimits`), with the field's default, bounds and
description, and calls the command with the validated `RunConfig` as its `config` argument. A field
is spelled `--field-name` unless its `Cli` marker (`extractor.config.Cli`) says otherwise. A value
the model refuses is a configuration error (exit 2) that names the option.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import annotated_types
import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from extractor.config import Cli
from extractor.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

_SEP = "__"  # joins the command's argument name and the field path into a parameter name


@dataclass(frozen=True)
class Option:
    """One generated option: where its value goes (`path` in the model of argument `argument`)."""

    argument: str
    path: tuple[str, ...]
    flag: str
    field: FieldInfo
    cli: Cli
    panel: str  # the help section: the title of the model that holds the field

    @property
    def parameter(self) -> str:
        return _SEP.join((self.argument, *self.path))

    def value(self, given: Any) -> Any:
        """The field value for what was given on the command line."""
        if self.cli.read is not None:
            return self.cli.read(given)
        if _is_tuple(self.field.annotation) and isinstance(given, str):
            return tuple(item.strip() for item in given.split(",") if item.strip())
        if self.cli.per_unit != 1 and given is not None:
            value = given * self.cli.per_unit
            return int(value) if self.field.annotation is int else value
        return given


def options_of(argument: str, model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[Option]:
    """The options for every field of `model` and of the models nested in it."""
    options = []
    for name, field in model.model_fields.items():
        cli = next((m for m in field.metadata if isinstance(m, Cli)), Cli())
        if cli.hidden:
            continue
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            options.extend(options_of(argument, field.annotation, (*prefix, name)))
            continue
        flag = cli.flag or name.replace("_", "-")
        panel = model.model_config.get("title") or model.__name__
        options.append(Option(argument, (*prefix, name), flag, field, cli, panel))
    return options


def config_options(**models: type[BaseModel]) -> Callable[[F], F]:
    """Give a typer command the options of `models` ({argument name: model class}); the command is
    called with each model built from its options, under that argument name. A value the model
    refuses (or its `Cli.read` refuses) exits 2 with a message naming the option."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command)
        options = [option for argument, model in models.items() for option in options_of(argument, model)]
        flags = [o.flag for o in options]
        clash = {f for f in flags if flags.count(f) > 1} | ({o.parameter for o in options} & set(signature.parameters))
        if clash:
            raise TypeError(f"options declared twice: {sorted(clash)}")
        hints = typing.get_type_hints(command, include_extras=True)
        own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name not in models]
        generated = [
            inspect.Parameter(
                o.parameter,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(o),
                default=_default(o),
            )
            for o in options
        ]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values: dict[str, dict[str, Any]] = {argument: {} for argument in models}
            for o in options:
                given = kwargs.pop(o.parameter)
                try:
                    value = o.value(given)
                except ConfigError as exc:
                    _usage_error(o.flag, str(exc))
                target = values[o.argument]
                for part in o.path[:-1]:
                    target = target.setdefault(part, {})
                target[o.path[-1]] = value
            for argument, model in models.items():
                kwargs[argument] = _validated(model, values[argument], options)
            return command(**kwargs)

        del wrapper.__wrapped__  # typer must see the generated signature, not the command's own
        params = own + generated
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return typing.cast(F, wrapper)

    return decorate


def _validated(model: type[BaseModel], values: dict[str, Any], options: list[Option]) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = tuple(str(p) for p in error["loc"])
        flag = next((o.flag for o in options if o.path == path[: len(o.path)]), ".".join(path))
        _usage_error(flag, error["msg"])


def _usage_error(flag: str, message: str) -> typing.NoReturn:
    """Say which option is wrong, as the CLI says other configuration errors, and exit 2."""
    message = message if message.startswith(f"--{flag}") else f"--{flag}: {message}"
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(2)


def _annotation(o: Option) -> Any:
    kind = o.cli.kind if o.cli.kind is not None else o.field.annotation
    bounds: dict[str, Any] = {}
    if o.cli.per_unit == 1 and o.cli.read is None:
        for m in o.field.metadata:  # inclusive bounds typer can show; strict float bounds are left to the model
            if isinstance(m, annotated_types.Ge):
                bounds["min"] = m.ge
            elif isinstance(m, annotated_types.Le):
                bounds["max"] = m.le
            elif isinstance(m, annotated_types.Gt) and kind is int:
                bounds["min"] = int(m.gt) + 1  # type: ignore[call-overload]
            elif isinstance(m, annotated_types.Lt) and kind is int:
                bounds["max"] = int(m.lt) - 1  # type: ignore[call-overload]
    decls = [f"--{o.flag}"]
    if kind is bool:
        decls = [f"--{o.flag}/--no-{o.flag}"] if o.field.default else [f"--{o.flag}"]
    elif o.cli.per_unit != 1:
        kind = float
    elif _is_tuple(kind):
        kind = str  # comma-separated: --target-modules q_proj,v_proj
    help_text = (o.field.description or "").rstrip(".")
    option = typer.Option(*decls, help=help_text + ".", rich_help_panel=o.panel, **bounds)
    return Annotated[kind, option]


def _default(o: Option) -> Any:
    if o.cli.read is not None:
        return None
    default = o.field.default
    if o.cli.per_unit != 1:
        return default / o.cli.per_unit
    if isinstance(default, tuple):
        return ",".join(default)
    return default


def _is_tuple(annotation: Any) -> bool:
    return typing.get_origin(annotation) is tuple
