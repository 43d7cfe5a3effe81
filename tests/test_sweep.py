"""Grid sweeps in config/sweep.yaml: expansion, names, validation and seeded random search."""

import itertools
from pathlib import Path

import pytest
import yaml

from captioning.errors import ConfigError
from captioning.pipeline.config import validate_sweep
from captioning.pipeline.experiment import Sweep

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/sweep.schema.yaml"


def sweep(experiments: dict) -> Sweep:
    raw = {"name": "s", "experiments": experiments}
    return Sweep.from_dict(validate_sweep(raw, SCHEMA, "sweep.yaml"), "sweep.yaml")


def test_the_issue_example_expands_into_four_named_points():
    s = sweep({"lstm": {"cell_type": "lstm", "grid": {"learning_rate": [1.0e-3, 3.0e-3], "hidden_dim": [128, 256]}}})
    assert list(s.experiments) == ["lstm-lr0.001-h128", "lstm-lr0.001-h256", "lstm-lr0.003-h128", "lstm-lr0.003-h256"]
    point = s.experiments["lstm-lr0.003-h128"]
    assert (point.cell_type, point.learning_rate, point.hidden_dim, point.group) == ("lstm", 0.003, 128, "lstm")
    assert {e.group for e in s.experiments.values()} == {"lstm"}
    assert "group" not in point.training_config()  # the block's name never changes what a point trains


def test_points_equal_the_hand_written_experiments():
    """A grid point trains exactly what the same settings written out by hand train."""
    grid = sweep({"r": {"cell_type": "rnn", "seeds": [0, 1], "grid": {"hidden_dim": [32, 64], "features": ["zeros"]}}})
    hand = sweep({"r-h32-zeros": {"cell_type": "rnn", "seeds": [0, 1], "hidden_dim": 32, "features": "zeros"}})
    a, b = grid.experiments["r-h32-zeros"], hand.experiments["r-h32-zeros"]
    assert a.training_config() == b.training_config() and a.fingerprint(0) == b.fingerprint(0)
    assert a.seeds == (0, 1) and grid.runs()[:2] == [("r-h32-zeros", 0), ("r-h32-zeros", 1)]


def test_adding_a_value_keeps_every_existing_point():
    small = sweep({"g": {"grid": {"learning_rate": [1e-3, 2e-3], "hidden_dim": [64]}}}).experiments
    grown = sweep({"g": {"grid": {"learning_rate": [1e-3, 2e-3, 5e-4], "hidden_dim": [64]}}}).experiments
    assert set(small) < set(grown) and set(grown) - set(small) == {"g-lr0.0005-h64"}
    assert all(grown[n] == small[n] for n in small)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"grid": {"hidden_dim": [128, "wide"]}}, "experiments.g.grid.hidden_dim[1]: 'wide' is not of type 'integer'"),
        ({"grid": {"learning_rate": [0.0]}}, "experiments.g.grid.learning_rate[0]: 0.0 is less than or equal to"),
        ({"grid": {"seeds": [[0], [1]]}}, "experiments.g.grid: 'seeds' cannot be swept"),
        ({"grid": {"lerning_rate": [1e-3]}}, "experiments.g.grid: 'lerning_rate' cannot be swept"),
        ({"hidden_dim": 64, "grid": {"hidden_dim": [32]}}, "experiments.g.grid.hidden_dim: also set outside the grid"),
        ({"grid": {"hidden_dim": []}}, "experiments.g.grid.hidden_dim: [] should be non-empty"),
        ({"grid": {"hidden_dim": [32, 32]}}, "experiments.g.grid.hidden_dim: must be a non-empty list of distinct"),
        ({"grid": {"cell_type": ["rnn", "gru"]}}, "experiments.g (g-gru).cell_type: 'gru' is not one of"),
        ({"sample": 2}, "experiments.g: 'grid' is a dependency of 'sample'"),
        ({"grid": {"hidden_dim": [32, 64]}, "sample": 3}, "experiments.g.sample: 3 is more than the grid's 2 points"),
        ({"confirm_seeds": [1]}, "experiments.g: 'grid' is a dependency of 'confirm_seeds'"),
        ({"grid": {"hidden_dim": [8]}, "confirm_seeds": [0]}, "experiments.g (g-h8).confirm_seeds: seed 0 is already"),
        ({"grid": {"hidden_dim": [8]}, "confirm_seeds": [1, 1]}, "experiments.g.confirm_seeds: [1, 1] has non-unique"),
        ({"grid": {"confirm_seeds": [[1], [2]]}}, "experiments.g.grid: 'confirm_seeds' cannot be swept"),
    ],
)
def test_bad_grids_are_one_line_errors_naming_the_key(block, message):
    with pytest.raises(ConfigError) as err:
        sweep({"g": block})
    assert str(err.value).startswith("sweep.yaml: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_confirm_seeds_belong_to_the_grid_and_never_change_what_a_point_trains():
    s = sweep(
        {
            "r": {"cell_type": "rnn", "seeds": [0], "confirm_seeds": [1, 2], "grid": {"hidden_dim": [8, 16]}},
            "l": {"cell_type": "lstm", "seeds": [0, 1, 2]},
        }
    )
    assert s.confirmations() == {"r": (["r-h8", "r-h16"], (1, 2))}
    assert s.runs() == [("r-h8", 0), ("r-h16", 0), ("l", 0), ("l", 1), ("l", 2)]  # before val picks a point
    plain = sweep({"r": {"cell_type": "rnn", "seeds": [0], "grid": {"hidden_dim": [8, 16]}}})
    assert s.experiments["r-h8"].training_config() == plain.experiments["r-h8"].training_config()
    with pytest.raises(ConfigError, match="experiments.r.confirm_seeds: only a grid confirms its best point"):
        Sweep.from_dict({"name": "s", "experiments": {"r": {"confirm_seeds": [1]}}}, "sweep.yaml")


def test_a_point_name_taken_by_another_block_is_refused():
    with pytest.raises(ConfigError, match=r"experiments.g-h32: the experiment name 'g-h32' is already taken"):
        sweep({"g": {"grid": {"hidden_dim": [32, 64]}}, "g-h32": {}})


def test_random_search_is_seeded_and_stable_when_the_grid_grows():
    grid = {"learning_rate": [1e-3, 2e-3, 3e-3, 5e-3], "hidden_dim": [64, 128, 256]}
    all_points = set(sweep({"g": {"grid": grid}}).experiments)
    drawn = sweep({"g": {"grid": grid, "sample": 5}}).experiments
    assert len(drawn) == 5 and set(drawn) <= all_points
    assert list(sweep({"g": {"grid": grid, "sample": 5}}).experiments) == list(drawn)
    other = sweep({"g": {"grid": grid, "sample": 5, "sample_seed": 1}}).experiments
    assert set(other) != set(drawn)
    grown = dict(grid, hidden_dim=[64, 128, 256, 512])
    kept = set(sweep({"g": {"grid": grown, "sample": 5}}).experiments)
    new = {p for p in kept if p.endswith("h512")}
    assert len(set(drawn) - kept) == len(new)  # a drawn point leaves only for a new point that outranks it


def test_the_default_sweep_has_a_grid_and_both_cells():
    raw = yaml.safe_load((ROOT / "config/sweep.yaml").read_text())
    s = Sweep.from_dict(validate_sweep(raw, SCHEMA, "config/sweep.yaml"), "config/sweep.yaml")
    groups = {}
    for name, e in s.experiments.items():
        groups.setdefault(e.group, []).append(name)
    grids = {g: e for g, e in groups.items() if len(e) > 1}
    assert grids, "the default sweep should include a grid"
    cells = {e.cell_type for e in s.experiments.values() if e.features == "image"}
    assert cells == {"rnn", "lstm"}
    for group, names in grids.items():
        keys = raw["experiments"][group]["grid"]
        assert len(names) == len(list(itertools.product(*keys.values())))


LSTM = {"cell_type": "lstm", "wordvec_dim": 16, "hidden_dim": 32, "seeds": [0, 1]}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"objective": "cider", "init_from": "nope"},
            "experiments.x.init_from: 'nope' is not an experiment of the sweep",
        ),
        ({"objective": "cider", "init_from": "lstm", "hidden_dim": 64}, "experiments.x.hidden_dim: 64 disagrees with"),
        ({"objective": "cider", "init_from": "lstm", "cell_type": "rnn"}, "experiments.x.cell_type: 'rnn' disagrees"),
        ({"objective": "cider", "init_from": "lstm", "seeds": [2]}, "experiments.x.seeds: 'lstm' has no seed 2"),
        ({"objective": "cider", "init_from": "lstm", "samples": 1}, "experiments.x.samples: the mean baseline needs"),
        ({"objective": "cider"}, "experiments.x.init_from: objective cider fine-tunes a trained experiment"),
        ({"init_from": "lstm"}, "experiments.x.init_from: only a self-critical experiment (objective: cider) has it"),
        ({"objective": "cider", "init_from": "y"}, "experiments.y.init_from: 'x' starts a cycle (x -> y -> x)"),
        ({"objective": "sgd"}, "experiments.x.objective: 'sgd' is not one of ['xe', 'cider']"),
    ],
)
def test_bad_fine_tuning_is_a_one_line_error_naming_the_key(block, message):
    with pytest.raises(ConfigError) as err:
        sweep({"lstm": LSTM, "x": block, "y": {"objective": "cider", "init_from": "x"}})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_fine_tuning_takes_its_start_s_architecture_and_seeds_and_grids_work_on_its_keys():
    s = sweep(
        {
            "lstm": LSTM,
            "tune": {
                "objective": "cider",
                "init_from": "lstm",
                "grid": {"learning_rate": [1e-5, 5e-5], "samples": [2, 5]},
            },
            "greedy": {"objective": "cider", "init_from": "lstm", "baseline": "greedy", "samples": 1, "seeds": [1]},
        }
    )
    assert list(s.experiments) == [
        "lstm",
        "tune-lr1e-05-n2",
        "tune-lr1e-05-n5",
        "tune-lr5e-05-n2",
        "tune-lr5e-05-n5",
    ] + ["greedy"]
    t = s.experiments["tune-lr5e-05-n5"]
    assert (t.cell_type, t.wordvec_dim, t.hidden_dim, t.seeds, t.lr_decay) == ("lstm", 16, 32, (0, 1), 1.0)
    assert (
        t.solver_config(0).select_metric == "CIDEr-D"
        and s.experiments["lstm"].solver_config(0).select_metric == "BLEU-4"
    )
    assert {"objective", "init_from", "samples", "baseline"} <= set(t.training_config())
    assert not {"objective", "init_from", "samples", "baseline"} & set(s.experiments["lstm"].training_config())
    assert s.experiments["greedy"].seeds == (1,) and s.experiments["greedy"].learning_rate == 5e-5


def test_an_experiment_that_cannot_fit_its_job_is_refused_at_planning_time():
    from captioning.pipeline.experiment import check_memory, memory_mb

    s = sweep({"lstm": {**LSTM, "wordvec_dim": 100_000_000}, "tune": {"objective": "cider", "init_from": "lstm"}})
    with pytest.raises(ConfigError) as err:
        check_memory(s, 1004, 512, 3000, "sweep.yaml")
    need = memory_mb(s.experiments["lstm"], 1004, 512)
    assert str(err.value) == (
        f"sweep.yaml: experiments.lstm.wordvec_dim: 100000000 makes a training job need about {need:,.0f} MB, "
        "more than the 3,000 MB it asks for (the train rule's mem_mb)"
    )
    embedding = 4 * 1004 * 100_000_000  # bytes of one float32 copy of the word embedding
    assert 6 * embedding < need * 2**20 < 10 * embedding  # six copies, and a batch's word vectors
    wide = sweep({"r": {"cell_type": "rnn", "batch_size": 200_000, "hidden_dim": 64}})
    with pytest.raises(ConfigError, match=r"experiments.r.batch_size: 200000 makes a training job need about"):
        check_memory(wide, 1004, 512, 3000, "sweep.yaml")
    check_memory(sweep({"lstm": LSTM}), 1004, 512, 3000)  # the usual sizes fit
