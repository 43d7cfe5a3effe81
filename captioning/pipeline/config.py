"""Reading and validating the workflow's YAML files with one-line errors."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from ..errors import ConfigError


def load_yaml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); expected a YAML file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


@functools.cache
def _validator(schema_path: str, definition: str | None):
    """A validator for the schema file (or its ``$defs/<definition>``), read once per process."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    if definition is not None:
        schema = {"$schema": schema["$schema"], **schema["$defs"][definition]}
    return jsonschema.validators.validator_for(schema)(schema)


def first_error(data, schema_path, definition: str | None = None) -> str | None:
    """The most relevant violation of the schema (or its ``$defs/<definition>``) as ``key.path: message``, or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator(str(schema_path), definition).iter_errors(data))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"


def validate_sweep(data: dict, schema_path, source: str) -> dict:
    """:func:`validate_file`, and every value of every ``grid:`` list checked like a hand-written setting."""
    validate_file(data, schema_path, source)
    for block, settings in data["experiments"].items():
        for key, values in ((settings or {}).get("grid") or {}).items():
            if key in ("seeds", "confirm_seeds"):  # expand_grid refuses them with its own message
                continue
            for i, value in enumerate(values):
                message = first_error({key: value}, schema_path, "settings")
                if message:
                    raise ConfigError(f"{source}: experiments.{block}.grid.{key}[{i}]: {message.split(': ', 1)[1]}")
    return data


def validate_file(data: dict, schema_path, source: str) -> dict:
    """Validate with Snakemake's ``validate`` (which also fills defaults); on failure one line naming the key."""
    from snakemake.utils import validate

    message = first_error(data, schema_path)
    if message:
        raise ConfigError(f"{source}: {message}")
    validate(data, str(schema_path))
    return data
