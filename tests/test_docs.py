"""The README and docs/ cannot rot: every command and snippet they show is tried.

From every fenced block of README.md and docs/*.md:

* each ``snakemake ...`` line is planned with ``-n`` (a dry run) in a copy of the project
  (``--report FILE`` left out: a report needs a finished run);
* each ``make TARGET`` names a target of the Makefile (``make -n``);
* each ``captioning-*`` entry point and each ``mlflow SUBCOMMAND`` answers ``--help``;
* each ``python`` block compiles and its imports resolve (modules and names).

Lines holding a placeholder (``<server>``, ``...``) are left out: they are templates.
"""

import ast
import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from project import ROOT, clean_env, copy_project

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: set[str]):
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text()):
            if lang in language:
                yield page.relative_to(ROOT), body


def commands() -> list[tuple[str, str]]:
    """(page, command) for every shell line, continuations joined, comments and prompts removed."""
    found = []
    for page, body in blocks({"bash", "sh", "shell", "console"}):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if not line or line.startswith("#") or "<" in line or "..." in line:
                continue
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if words:
                found.append((str(page), shlex.join(words)))
    return found


def program(command: str) -> str:
    return Path(shlex.split(command)[0]).name


SNAKEMAKE = [c for c in commands() if program(c[1]) == "snakemake"]
MAKE = [c for c in commands() if program(c[1]) == "make"]
ENTRY_POINTS = sorted({(p, c) for p, c in commands() if program(c).startswith(("captioning-", "mlflow"))})


def test_the_pages_show_commands_of_every_kind():
    assert len(SNAKEMAKE) >= 5 and len(MAKE) >= 4 and ENTRY_POINTS


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("docs"))


@pytest.mark.slow
@pytest.mark.parametrize("page, command", SNAKEMAKE)
def test_each_snakemake_command_plans(page, command, project):
    words = shlex.split(command)[1:]
    if "--report" in words:  # a report needs a finished run: plan the rest of the command
        i = words.index("--report")
        words = words[:i] + words[i + 2 :]
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", *words, "-n"],
        cwd=project,
        env=clean_env(CAPTIONING_SLURM_PARTITION="debug", CAPTIONING_SLURM_ACCOUNT=""),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"{page}: `{command}` fails a dry run:\n{res.stderr[-2000:]}"


@pytest.mark.parametrize("page, command", MAKE)
def test_each_make_target_exists(page, command):
    targets = [w for w in shlex.split(command)[1:] if "=" not in w and not w.startswith("-")]
    for target in targets:
        res = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True)
        assert res.returncode == 0, f"{page}: `make {target}`: {res.stderr.strip()}"


@pytest.mark.parametrize("page, command", ENTRY_POINTS)
def test_each_entry_point_answers_help(page, command):
    words = shlex.split(command)
    name = Path(words[0]).name
    cmd = [str(Path(sys.executable).with_name(name))]
    if name == "mlflow":  # its subcommand: `mlflow ui`, `mlflow models serve`, `mlflow runs restore`
        for word in words[1:3]:
            if word.startswith("-"):
                break
            cmd.append(word)
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{page}: `{' '.join(cmd)} --help` failed:\n{res.stderr[-1000:]}"


@pytest.mark.parametrize("page, code", list(blocks({"python"})))
def test_each_python_snippet_compiles_and_its_imports_resolve(page, code):
    tree = ast.parse(code, filename=str(page))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{page}: `from {node.module} import {alias.name}` does not resolve"
                )


@pytest.mark.slow
def test_a_broken_command_is_caught(project):
    """The check itself can fail: a rule that does not exist fails the dry run."""
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "no_such_rule", "-n"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0


def table(page: Path, heading: str) -> dict[str, str]:
    """{key: default} of the table under ``heading`` (its first two columns, backticks removed)."""
    text = page.read_text().split(f"\n{heading}\n", 1)[1]
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if cells[0] not in ("key", "---"):
            rows[cells[0]] = cells[1]
    return rows


def schema_keys(schema: dict, prefix: str = "", defs: dict | None = None) -> list[str]:
    defs = schema.get("$defs", {}) if defs is None else defs
    keys = []
    for name, spec in schema["properties"].items():
        spec = defs[spec["$ref"].rpartition("/")[2]] if "$ref" in spec else spec
        if spec.get("type") == "object" and "properties" in spec:
            keys += schema_keys(spec, f"{prefix}{name}.", defs)
        else:
            keys.append(prefix + name)
    return keys


def test_the_config_reference_names_every_key_with_its_default():
    import dataclasses

    import yaml

    from captioning.data.synthetic import SyntheticConfig

    documented = table(ROOT / "docs/configuration.md", "## config/config.yaml")
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    assert sorted(documented) == sorted(schema_keys(schema))
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    code = {f"synthetic.{f.name}": f.default for f in dataclasses.fields(SyntheticConfig)}
    for key, default in documented.items():
        section, _, name = key.rpartition(".")
        actual = (config.get(section, {}) if section else config).get(name, code.get(key))
        assert yaml.safe_load(default) == actual, f"docs/configuration.md: {key} default {default}, is {actual!r}"


def test_the_sweep_reference_names_every_key_with_its_default():
    import dataclasses

    import yaml

    from captioning.pipeline.experiment import GRID_KEYS, Experiment

    documented = table(ROOT / "docs/configuration.md", "## The sweep file")
    fields = {f.name: f.default for f in dataclasses.fields(Experiment) if f.name not in ("name", "group")}
    assert sorted(documented) == sorted([*fields, *GRID_KEYS])
    for key, default in fields.items():
        value = list(default) if isinstance(default, tuple) else default
        assert yaml.safe_load(documented[key]) == value, f"docs/configuration.md: {key} default {documented[key]}"


def test_results_readme_names_every_file_the_workflow_writes(smoke):
    work = smoke.work
    documented = set()
    for line in (ROOT / "results/README.md").read_text().splitlines():
        if line.startswith("| `"):
            documented |= {name.strip().strip("`") for name in line.split("|")[1].split(",")}
    written = {
        p.name if p.is_file() else f"{p.name}/<experiment>.png"
        for p in (work / "smoke/results/synthetic/smoke").iterdir()
    } - {"README.md"}
    assert written == documented - {"report.html"}
