"""Measured figures live in one place each, as their command printed them (bench/publish.py)."""

import re
import sys
from pathlib import Path

import pytest
from project import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import publish  # noqa: E402

HEADER = re.compile(r"^`python bench/[\w./ -]+`, \d{4}-\d{2}-\d{2}:$")
PAGE = """# A page

Text before.

<!-- figures: {name} -->
old figures
<!-- /figures: {name} -->

Text after.
"""


def suite_figure(name: str) -> bool:
    """Whether block ``name`` holds the test suite's own counts and time."""
    return publish.FIGURES[name][0] == "bench/bench_tests.py"


def block_body(text: str, name: str) -> str:
    return next(m["body"] for m in publish.BLOCK.finditer(text) if m["name"] == name)


def test_every_command_has_one_published_block():
    where = publish.locate(ROOT)
    assert sorted(where) == sorted(publish.FIGURES)
    for name, path in where.items():
        body = block_body(path.read_text(), name)
        if suite_figure(name) and not body.strip():
            continue  # published by a run of the suite that this very test is part of
        header, _, output = body.partition("\n\n")
        assert HEADER.match(header), f"{path.name}: block {name} holds no published output: {body[:80]!r}"
        assert f"`python {' '.join(publish.FIGURES[name])}`" in header
        assert output.startswith("machine: "), f"{path.name}: block {name} names no machine"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A project root with one page, and commands that succeed, fail or print nothing."""
    (tmp_path / "docs").mkdir()
    monkeypatch.setattr(publish, "ROOT", tmp_path)
    monkeypatch.setattr(
        publish,
        "FIGURES",
        {
            "ok": ["-c", "print('machine: here'); print(); print('| a |'); print('|---|'); print('| 1 |')"],
            "broken": ["-c", "import sys; sys.exit(3)"],
            "silent": ["-c", "pass"],
        },
    )
    return tmp_path


def test_a_block_is_replaced_by_its_command_output_and_nothing_else_changes(scratch):
    page = scratch / "docs/page.md"
    page.write_text(PAGE.format(name="ok"))
    publish.publish(["ok"], scratch)
    text = page.read_text()
    body = block_body(text, "ok")
    assert re.fullmatch(
        r"`python -c print\(.*\)`, \d{4}-\d{2}-\d{2}:\n\nmachine: here\n\n\| a \|\n\|---\|\n\| 1 \|\n", body
    )
    assert text.replace(body, "old figures\n") == PAGE.format(name="ok")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("broken", "`python -c import sys; sys.exit(3)` failed (exit 3); block 'broken' kept"),
        ("silent", "`python -c pass` printed nothing; block 'silent' kept"),
    ],
)
def test_a_failing_command_leaves_the_page_untouched(scratch, name, message):
    page = scratch / "docs/page.md"
    page.write_text(PAGE.format(name=name))
    before = page.read_bytes()
    with pytest.raises(publish.PublishError) as info:
        publish.publish([name], scratch)
    assert str(info.value) == message
    assert page.read_bytes() == before
    assert [p.name for p in (scratch / "docs").iterdir()] == ["page.md"]  # no temporary file left


def test_bad_blocks_are_refused_in_one_line(scratch, capsys):
    page = scratch / "docs/page.md"
    page.write_text(PAGE.format(name="unknown"))
    with pytest.raises(publish.PublishError, match=r"page.md: block 'unknown' names no command; known: ok, broken"):
        publish.locate(scratch)
    page.write_text("<!-- figures: ok -->\nno end\n")
    with pytest.raises(publish.PublishError, match=r"page.md: a figures block is not closed by"):
        publish.locate(scratch)
    page.write_text(PAGE.format(name="ok"))
    (scratch / "README.md").write_text(PAGE.format(name="ok"))
    with pytest.raises(publish.PublishError, match=r"page.md: block 'ok' is also in .*README.md; a figure lives"):
        publish.locate(scratch)
    (scratch / "README.md").unlink()
    with pytest.raises(SystemExit, match=r"^publish: no <!-- figures: broken --> block in README.md or docs/\*.md$"):
        publish.main(["broken"])
    with pytest.raises(SystemExit, match=r"^publish: unknown block 'nope'; known: ok, broken, silent$"):
        publish.main(["nope"])


def minutes(text: str) -> float:
    """A published time in minutes: the first 'N min M s', or else the first 'X h of job time'."""
    found = re.search(r"(\d+) min (\d+) s", text)
    if found:
        return int(found[1]) + int(found[2]) / 60
    return 60 * float(re.search(r"([\d.]+) h of job time", text)[1])


@pytest.mark.parametrize(
    ("page", "claim", "block"),
    [
        ("README.md", r"trains \d+ runs in about (\d+) minutes", "workflow"),
        ("README.md", r"make test-fast .*: about (\d+) seconds", "tests-fast"),
        ("README.md", r"make test +# .*: about (\d+) minutes", "tests-all"),
        ("README.md", r"at most\s+about (\d+) h of job time", "bench_coco_scale"),
    ],
)
def test_rounded_figures_agree_with_the_published_ones(page, claim, block):
    """A page may round a published figure for a newcomer; within 25% of it, or the test fails."""
    said = float(re.search(claim, (ROOT / page).read_text())[1])
    said *= 60 if " h of" in claim else 1
    said /= 60 if " seconds" in claim else 1
    where = publish.locate(ROOT)[block]
    body = block_body(where.read_text(), block)
    if suite_figure(block) and not body.strip():
        pytest.skip(f"block {block} is being published by a run of the suite")
    measured = minutes(body)
    assert abs(said - measured) <= 0.25 * measured, f"{page} says about {said:g} min; {where.name}: {measured:.1f}"


def test_the_readme_counts_the_trainings_the_workflow_ran():
    said = int(re.search(r"`make reproduce` trains (\d+) runs", (ROOT / "README.md").read_text())[1])
    where = publish.locate(ROOT)["workflow"]
    assert f": {said} trainings," in block_body(where.read_text(), "workflow")


def unquoted(block: str, summary: str) -> list[str]:
    """The table rows and bullets of a results block that are not, verbatim, lines of ``summary``."""
    lines = set(summary.splitlines())
    return [line for line in block.splitlines() if line.startswith(("|", "* ")) and line not in lines]


def test_the_results_blocks_quote_the_summary_verbatim_and_a_planted_figure_is_caught(smoke):
    """bench/results_tables.py on the smoke run's summary.md: every row and bullet it prints is one of the
    summary's lines; a figure changed by hand is not."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results_tables

    summary = (smoke.work / "smoke/results/synthetic/smoke/summary.md").read_text()
    for headline in (False, True):
        block = results_tables.quote(summary, headline)
        quoted = [line for line in block.splitlines() if line.startswith(("|", "* "))]
        assert len(quoted) >= 4 and unquoted(block, summary) == []
    table = results_tables.quote(summary)
    row = next(line for line in table.splitlines() if line.startswith("| rnn |"))
    planted = table.replace(row, re.sub(r"0\.\d{3}", "0.999", row, count=1))
    assert unquoted(planted, summary) == [re.sub(r"0\.\d{3}", "0.999", row, count=1)]


def sweep_names(sweep_file: Path) -> set[str]:
    from captioning.pipeline.config import load_yaml
    from captioning.pipeline.experiment import Sweep

    sweep = Sweep.from_dict(load_yaml(sweep_file), str(sweep_file))
    return set(sweep.experiments) | {e.group for e in sweep.experiments.values()}


def drift(block: str, names: set[str]) -> list[str]:
    """Experiment names a results block quotes (its tables' first two columns, the headline's `names`)
    that the default sweep does not have."""
    quoted = set(re.findall(r"`([\w.-]+)`", block))
    for line in block.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            quoted |= {c.strip().strip("*★ ").strip() for c in line.strip("|").split("|")[:2]}
    headers = {"group", "experiment", "against", "started from", "human agreement", "(leave-one-out)", ""}
    return sorted(q for q in quoted - headers - names if not q.startswith(("http", "results/")))


def test_the_published_results_name_only_experiments_the_default_sweeps_train():
    names = sweep_names(ROOT / "config/sweep.yaml") | sweep_names(ROOT / "config/sweep_memory.yaml")
    where = publish.locate(ROOT)
    for name in ("results", "results-memory", "results-headline"):
        body = block_body(where[name].read_text(), name)
        assert drift(body, names) == [], where[name].name
    assert drift("* Best by val: `lstm_wide` ...", names) == ["lstm_wide"]  # a planted name is caught
