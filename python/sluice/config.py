"""The configuration file (TOML, read with the standard tomllib).

Every flag of a command is also a key: the flag's long name without the
dashes, with ``_`` or ``-`` alike (``--graceful-timeout`` is
``graceful_timeout``); a repeatable flag takes a list (or one value); an
on/off flag takes true/false; the positional APP is ``app``. Values are
checked by the flag's own type, so the file and the command line accept
exactly the same things. Flags given on the command line win over the file.
Unknown keys are errors; every error names the key, its line and why.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import click


class ConfigError(Exception):
    """A configuration file that cannot be used; str() says where and why."""


def _key(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        longs = [o for o in param.opts if o.startswith("--")]
        return (longs[0] if longs else param.opts[0]).lstrip("-").replace("-", "_")
    return param.name


def keys_of(command: click.Command) -> dict[str, click.Parameter]:
    """key -> the parameter it sets (help, config and check flags excluded)."""
    out = {}
    for p in command.params:
        if p.name in ("config", "check", "help") or getattr(p, "is_eager", False):
            continue
        out[_key(p)] = p
    return out


def _line_of(text: str, key: str) -> int | None:
    variants = {key, key.replace("_", "-")}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*([A-Za-z0-9_\-\"']+)\s*=", line)
        if m and m.group(1).strip("\"'") in variants:
            return n
    return None


def read(path: str, command: click.Command) -> dict[str, Any]:
    """The file's values as {parameter name: converted value}."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    params = keys_of(command)
    ctx = click.Context(command)
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        line = _line_of(text, raw_key)
        where = f"{path}:{line}" if line else path
        param = params.get(key)
        if param is None:
            known = ", ".join(sorted(params))
            raise ConfigError(f"{where}: unknown key {raw_key!r} (the keys: {known})")
        try:
            out[param.name] = _convert(param, value, ctx)
        except (click.BadParameter, ValueError, TypeError) as exc:
            msg = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            raise ConfigError(f"{where}: {raw_key}: {msg}") from None
    return out


def _convert(param: click.Parameter, value: Any, ctx: click.Context) -> Any:
    if isinstance(value, dict):
        raise ValueError("a table is not a value here")
    if getattr(param, "multiple", False):
        values = value if isinstance(value, list) else [value]
        return tuple(param.type.convert(v, param, ctx) for v in values)
    if isinstance(value, list):
        raise ValueError("one value expected, not a list")
    if isinstance(param, click.Option) and param.is_flag and not param.secondary_opts:
        if not isinstance(value, bool):
            raise ValueError(f"true or false expected, not {value!r}")
        return value
    if isinstance(value, bool) and not isinstance(param.type, click.types.BoolParamType):
        raise ValueError(f"{value!r} is not a {param.type.name}")
    if isinstance(value, float) and isinstance(param.type, click.types.IntParamType):
        raise ValueError(f"{value!r} is not an integer")  # click's int() would cut 1.5 to 1
    return param.type.convert(value, param, ctx)


def merge(cli: dict[str, Any], explicit: set[str], path: str | None, command: click.Command) -> dict[str, Any]:
    """The command line's values over the file's (flags given explicitly win)."""
    values = dict(cli)
    if path:
        for name, value in read(path, command).items():
            if name not in explicit:
                values[name] = value
    return values


def locate(path: str | None, message: str) -> str:
    """'key: why' -> 'FILE:LINE: key: why' when the file sets that key."""
    key = message.partition(":")[0].strip()
    if path and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", key):
        try:
            text = Path(path).read_text()
        except OSError:
            return f"{path}: {message}"
        line = _line_of(text, key) or _line_of(text, key.replace("_", "-"))
        if line:
            return f"{path}:{line}: {message}"
    return f"{path}: {message}" if path else message
