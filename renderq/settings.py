"""The servers' settings, loaded in one place: defaults < files < environment < flags.

A server's settings are one frozen dataclass (agent/config.py, controller/config.py) and
each of its fields is one setting. Everything else derives from the field, so adding a
setting is adding a field: its key in the TOML files (the field's name, or ``meta(name=...)``),
its flag (the key with dashes: ``--kill-grace``; ``--mdns/--no-mdns`` for a boolean;
repeatable for a list), its environment variable (``RENDERQ_AGENT_KILL_GRACE``, plus
the older names ``meta(env=...)`` keeps working), its help (the field's docstring) and
the check of its type (the field's annotation).

Where the values come from, later ones winning: the field's default;
``/etc/renderq/SERVER.toml``, then ``$XDG_CONFIG_HOME/renderq/SERVER.toml`` (else
``~/.config/renderq/SERVER.toml``), those that exist, or instead only the file given
by ``--config``; the environment; the flags. A mistake anywhere is a SettingsError whose
one sentence names the file, variable or flag, the key and what it allows, so a
service manager's log says what to fix.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import functools
import gc
import inspect
import itertools
import json
import math
import os
import sys
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from renderq.log_format import Format, Level

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")

SYSTEM_DIR = Path("/etc/renderq")
_META = "renderq.settings"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_TOML_TYPES: dict[type, tuple[type, ...]] = {
    str: (str,), Path: (str,), int: (int,), float: (int, float), bool: (bool,), tuple: (list,),
}  # fmt: skip
"""What a TOML file may hold for each kind of setting."""
_PHRASES = {
    str: "a string", Path: "a path", int: "a whole number", float: "a number",
    bool: "true or false", tuple: 'a list of strings such as ["a", "b"]',
}  # fmt: skip


class SettingsError(ValueError):
    """A value that cannot be used; the message is one sentence that says where it was
    given (file, variable or flag), for which key, and what is allowed."""


@dataclass(frozen=True)
class _Meta:
    name: str | None = None
    metavar: str | None = None
    env: tuple[str, ...] = ()
    secret: bool = False
    minimum: float | None = None


def meta(
    *,
    name: str | None = None,
    metavar: str | None = None,
    env: tuple[str, ...] = (),
    secret: bool = False,
    minimum: float | None = None,
) -> dict[str, object]:
    """Field metadata for what the field cannot say itself: ``name``, the key and flag
    when they are not the field's name (the flag users know, ``tls`` for ``tls_dir``);
    ``metavar`` for the help; ``env``, older variable names that still set it;
    ``secret``, never shown; ``minimum``, the least number allowed."""
    return {_META: _Meta(name, metavar, env, secret, minimum)}


@dataclass(frozen=True)
class ServerSettings:
    """What both servers have: how they log and where they serve metrics."""

    log_level: Level = "INFO"
    """Least severe events logged."""
    log_format: Format = "text"
    """Text lines for people, or json: one JSON object per line for log collectors."""
    metrics_listen: str | None = field(default=None, metadata=meta(metavar="HOST:PORT"))
    """Serve Prometheus metrics over HTTP on HOST:PORT."""


@dataclass(frozen=True)
class Setting:
    """One field of a settings class, as files, variables and flags name it."""

    attr: str
    """The dataclass field."""
    key: str
    kind: type
    """str, Path, int, float, bool, or tuple (a list of strings)."""
    help: str
    variables: tuple[str, ...]
    """The environment variables that set it; the first one set wins."""
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    secret: bool = False
    minimum: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def allowed(self) -> str:
        """What a value must be, as the end of ``KEY must be ...``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        phrase = _PHRASES[self.kind]
        return phrase if self.minimum is None else f"{phrase} of {self.minimum:g} or more"

    def from_toml(self, raw: object) -> object:
        """A value as TOML holds it (a list for a list), typed and checked; ValueError if not allowed."""
        kind = self.kind
        allowed = isinstance(raw, _TOML_TYPES[kind]) and (kind is bool or not isinstance(raw, bool))
        if isinstance(raw, list):
            allowed = allowed and all(isinstance(item, str) for item in raw)
        if not allowed:
            raise ValueError(self.allowed)
        if kind is tuple:
            return tuple(typing.cast("list[str]", raw))
        if kind is Path:
            return Path(typing.cast("str", raw)).expanduser()
        return self._checked(float(typing.cast("float", raw)) if kind is float else raw)

    def from_text(self, text: str) -> object:
        """A value as a variable or a flag gives it: ``true``/``1``, ``a,b`` for a list."""
        raw: object = text
        if self.kind is bool and text.strip().lower() in _TRUE | _FALSE:
            raw = text.strip().lower() in _TRUE
        elif self.kind is tuple:
            raw = [part.strip() for part in text.split(",") if part.strip()]
        elif self.kind in (int, float):
            try:
                raw = self.kind(text)
            except ValueError:
                raise ValueError(self.allowed) from None
        return self.from_toml(raw)

    def _checked(self, value: object) -> object:
        if self.choices:
            match = [c for c in self.choices if c.lower() == str(value).lower()]
            if not match:
                raise ValueError(self.allowed)
            return match[0]
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(self.allowed)
        if self.minimum is not None and typing.cast("float", value) < self.minimum:
            raise ValueError(self.allowed)
        return value

    def plain(self, value: object) -> object:
        """The value as JSON and TOML write it; a secret that is set as ``***``."""
        if value is not None and self.secret:
            return "***"
        if isinstance(value, Path):
            return str(value)
        return list(value) if isinstance(value, tuple) else value

    def shown(self, value: object) -> str:
        """The value for people: a string as it is, anything else as JSON writes it."""
        plain = self.plain(value)
        return plain if isinstance(plain, str) else json.dumps(plain)


class Schema(Generic[C]):
    """A server's settings class and the name its files and variables go by."""

    def __init__(self, server: str, cls: type[C]) -> None:
        self.server = server
        self.cls = cls

    @functools.cached_property
    def settings(self) -> tuple[Setting, ...]:
        """Every setting, the server's own first, then those every server has."""
        return tuple(_derive(self.server, self.cls))

    def defaults(self) -> C:
        """Every setting at its default (``data_dir``'s depends on $XDG_DATA_HOME, hence a call)."""
        return self.cls()

    def setting(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.key == key), None)


def config_files(server: str, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Where a server looks for its file, in the order they are read (the later wins)."""
    home = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [SYSTEM_DIR / f"{server}.toml", home / "renderq" / f"{server}.toml"]


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from."""

    source: Literal["default", "file", "environment", "flag"]
    where: str | None = None
    """The file, the variable or the flag; None for a default."""

    def __str__(self) -> str:
        return self.source if self.where is None else f"{self.source} {self.where}"


@dataclass(frozen=True)
class Loaded(Generic[C]):
    """The settings a server runs with, and where each came from."""

    config: C
    origins: Mapping[str, Origin]
    """By key."""
    files: tuple[Path, ...]
    """The files read, in order."""


def load(schema: Schema[C], args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Loaded[C]:
    """The settings from the defaults, the files, ``environ`` and the flags in ``args``
    (as ``add_flags`` made them), later ones winning; SettingsError for a bad value."""
    explicit: Path | None = getattr(args, "config", None)
    files = [explicit] if explicit else [p for p in config_files(schema.server, environ) if p.exists()]
    values: dict[str, object] = {}
    origins = {s.key: Origin("default") for s in schema.settings}
    layers = [*(_from_file(schema, path) for path in files), _from_environment(schema, environ)]
    for setting, value, origin in itertools.chain(*layers, _from_flags(schema, args)):
        values[setting.attr] = value
        origins[setting.key] = origin
    return Loaded(dataclasses.replace(schema.defaults(), **values), origins, tuple(files))


_Found = Iterator[tuple[Setting, object, Origin]]
"""What one source gives: each setting it sets, its value, and where it came from."""


def _from_file(schema: Schema[C], path: Path) -> _Found:
    for key, raw in _read_toml(path).items():
        setting = schema.setting(key)
        if setting is None:
            raise SettingsError(_unknown_key(schema, path, key))
        try:
            value = setting.from_toml(raw)
        except ValueError:
            shown = "***" if setting.secret else json.dumps(raw, default=str)
            raise SettingsError(f"{path}: {key} must be {setting.allowed}, not {shown}") from None
        yield setting, value, Origin("file", str(path))


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise SettingsError(f"{path}: no such file") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None


def _unknown_key(schema: Schema[C], path: Path, key: str) -> str:
    keys = [s.key for s in schema.settings]
    close = difflib.get_close_matches(key.replace("-", "_"), keys, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{path}: unknown key {key!r}{hint}; the {schema.server}'s keys are {', '.join(sorted(keys))}"


def _from_environment(schema: Schema[C], environ: Mapping[str, str]) -> _Found:
    """The first variable of each setting that is set and not empty (an empty one is unset,
    as shells and service files write it)."""
    for setting in schema.settings:
        variable = next((v for v in setting.variables if environ.get(v)), None)
        if variable is None:
            continue
        text = environ[variable]
        try:
            value = setting.from_text(text)
        except ValueError:
            shown = "***" if setting.secret else text
            raise SettingsError(f"{variable}={shown}: {setting.key} must be {setting.allowed}") from None
        yield setting, value, Origin("environment", variable)


def _from_flags(schema: Schema[C], args: argparse.Namespace) -> _Found:
    """The flags given; argparse typed and checked them already (see ``add_flags``)."""
    for setting in schema.settings:
        given = getattr(args, setting.key, None)
        if given is None:
            continue
        if setting.kind is tuple:
            given = tuple(itertools.chain.from_iterable(given))
        flag = setting.flag if given is not False else f"--no-{setting.flag[2:]}"
        yield setting, given, Origin("flag", flag)


def _derive(server: str, cls: type) -> Iterator[Setting]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, doc in _declared(cls):
        if name not in fields:
            continue
        about: _Meta = fields[name].metadata.get(_META, _Meta())
        if not doc:
            raise TypeError(f"{cls.__name__}.{name} has no docstring: it is the setting's help")
        kind, choices = _kind(hints[name])
        key = about.name or name
        yield Setting(
            attr=name,
            key=key,
            kind=kind,
            help=" ".join(doc.replace("``", "`").split()),
            variables=(f"RENDERQ_{server.upper()}_{key.upper()}", *about.env),
            choices=choices,
            metavar=about.metavar,
            secret=about.secret,
            minimum=about.minimum,
        )


def _kind(hint: object) -> tuple[type, tuple[str, ...]]:
    """The kind of value an annotation allows (and its choices, for a Literal)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _kind(next(a for a in typing.get_args(hint) if a is not type(None)))
    if origin is Literal:
        return str, typing.get_args(hint)
    if origin is tuple:
        return tuple, ()
    if hint in _TOML_TYPES:
        return typing.cast("type", hint), ()
    raise TypeError(f"a setting cannot be a {hint}")


def _declared(cls: type) -> Iterator[tuple[str, str]]:
    """Each annotated name of ``cls`` and its bases with its docstring, the class's own first."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if dataclasses.is_dataclass(klass):
            docs = _docstrings(klass.__module__, klass.__qualname__)
            yield from ((name, doc) for name, doc in docs.items() if name not in seen)
            seen |= docs.keys()


@functools.cache
def _docstrings(module: str, qualname: str) -> dict[str, str]:
    """The string under each annotated name of a class body, in order ("" when none).
    Read from the source because Python keeps no docstring for an attribute.

    Parsed with the garbage collector paused: a finalizer it runs in the middle (a leaked
    subprocess transport reporting "Event loop is closed") may format a traceback, which
    parses source too, and Python 3.11's AST builder keeps its depth in one global, so the
    outer parse then fails with a SystemError."""
    source = inspect.getsource(sys.modules[module])
    collecting = gc.isenabled()
    gc.disable()
    try:
        tree = ast.parse(source)
    finally:
        if collecting:
            gc.enable()
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == qualname).body
    return {
        statement.target.id: _string(after)
        for statement, after in zip(body, [*body[1:], None], strict=True)
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    }


def _string(node: ast.stmt | None) -> str:
    if (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ):
        return node.value.value
    return ""


def add_flags(parser: argparse.ArgumentParser, schema: Schema[C]) -> None:
    """``--config FILE`` and a flag for every setting, and an epilog that tells where else
    settings come from. Every flag defaults to None, so ``load`` tells a flag given from
    one left out."""
    system, user = config_files(schema.server)
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help=f"read only this TOML file, not {system} and {user}"
    )
    defaults = schema.defaults()
    for setting in schema.settings:
        help_text = _help(setting, getattr(defaults, setting.attr))
        if setting.kind is bool:
            parser.add_argument(
                setting.flag, dest=setting.key, action=argparse.BooleanOptionalAction, help=help_text
            )
            continue
        parser.add_argument(
            setting.flag,
            dest=setting.key,
            action="append" if setting.kind is tuple else "store",
            # A path needs no check, and stays recognisable as one to code that reads the
            # parser (cli/service_spec.py makes path flags absolute).
            type=Path if setting.kind is Path else functools.partial(_flag_value, setting),
            choices=setting.choices or None,
            metavar=setting.metavar,
            help=help_text,
        )
    parser.epilog = (
        f"Each flag is also a key of {schema.server}.toml (--some-flag X: some_flag = X; --no-mdns: "
        f"mdns = false; a repeatable flag: a list) and a variable RENDERQ_{schema.server.upper()}_KEY. "
        f"Read in this order, the later winning: the defaults, {system}, {user} (or only --config FILE), "
        f"the variables, the flags. `renderq config show {schema.server}` prints the result and where "
        "each value came from."
    )


def _flag_value(setting: Setting, text: str) -> object:
    try:
        return setting.from_text(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {setting.allowed}, not {text!r}") from None


def _help(setting: Setting, default: object) -> str:
    """The docstring as argparse help: lower case, no full stop, the default and the older
    variable names in brackets."""
    text = setting.help.rstrip(".")
    if not text[1:2].isupper():
        text = text[:1].lower() + text[1:]
    notes = ["repeatable, or comma-separated"] if setting.kind is tuple else []
    if default not in (None, ()):
        notes.append(f"default {setting.shown(default)}")
    notes += [f"or ${variable}" for variable in setting.variables[1:]]
    return (f"{text} ({'; '.join(notes)})" if notes else text).replace("%", "%%")
