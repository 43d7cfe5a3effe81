"""Damaged files the pipeline reads: truncated, random bytes, wrong dtype, wrong shape, missing key.

Each case is one line naming the file (a ``CaptioningError``), and the damaged
file and its good neighbours are left byte for byte as they were. The HDF5
features and captions, the vocabulary JSON and the downloaded archive have their
cases in test_data_layout.py and test_download.py, the hand-off records in
test_records.py; here are the checkpoints, the sweep and config YAML, and every
format once more through the same five mutations.
"""

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_model

from captioning.checkpoint import CheckpointError, TrainingCheckpoint, load_model
from captioning.errors import CaptioningError
from captioning.pipeline.config import load_yaml, validate_file, validate_sweep
from captioning.pipeline.experiment import Sweep
from captioning.pipeline.records import History, RunRecord

RNG = np.random.default_rng(0)
ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow/schemas"


def checkpoint_file(path):
    model = tiny_model(dtype=np.float32)
    TrainingCheckpoint(
        model_config=model.config(),
        idx_to_word=[model.idx_to_word[i] for i in range(model.vocab_size)],
        solver_config={},
        params=model.params,
        best_params=None,
        optim_configs={k: {} for k in model.params},
        rng_state=np.random.default_rng(0).bit_generator.state,
        state={"epoch": 0},
        loss_history=np.zeros(0),
    ).save(path)
    return path


def rewrite_npz(path, change):
    """Rewrite an .npz with ``change(arrays)`` applied (arrays: name -> array)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def header_without(key):
    def change(arrays):
        header = json.loads(str(arrays["__header__"]))
        del header[key]
        arrays["__header__"] = np.array(json.dumps(header))

    return change


CHECKPOINT_CASES = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "random bytes": lambda p: p.write_bytes(RNG.bytes(p.stat().st_size)),
    "empty": lambda p: p.write_bytes(b""),
    "wrong dtype": lambda p: rewrite_npz(p, lambda a: a.update({"params/Wx": a["params/Wx"].astype(np.float64)})),
    "wrong shape": lambda p: rewrite_npz(p, lambda a: a.update({"params/Wx": a["params/Wx"][:, :-1]})),
    "missing parameter": lambda p: rewrite_npz(p, lambda a: a.pop("params/Wx")),
    "missing header": lambda p: rewrite_npz(p, lambda a: a.pop("__header__")),
    "missing header key": lambda p: rewrite_npz(p, header_without("rng")),
    "pickled object": lambda p: rewrite_npz(p, lambda a: a.update({"params/Wx": np.array([{"a": 1}], dtype=object)})),
}
CHECKPOINT_MESSAGES = {
    "truncated": "is unreadable (",
    "random bytes": "is unreadable (",
    "empty": "is unreadable (",
    "wrong dtype": ": params/Wx is float64[5, 32], expected float32[5, 32]",
    "wrong shape": ": params/Wx is float32[5, 31], expected float32[5, 32]",
    "missing parameter": ": params/Wx is missing or not a parameter of the model",
    "missing header": "is unreadable (",
    "missing header key": "is incomplete: no rng",
    "pickled object": "is unreadable (",
}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_a_damaged_checkpoint_is_one_line_naming_it_and_nothing_is_changed(case, tmp_path):
    good = checkpoint_file(tmp_path / "good.npz")
    bad = checkpoint_file(tmp_path / "model.npz")
    CHECKPOINT_CASES[case](bad)
    before = {p: digest(p) for p in (good, bad)}
    with pytest.raises(CheckpointError) as err:
        load_model(bad)
    message = str(err.value)
    assert "\n" not in message and f"checkpoint {bad}" in message
    assert CHECKPOINT_MESSAGES[case] in message, message
    assert {p: digest(p) for p in (good, bad)} == before
    model, _ = load_model(good)  # its neighbour still loads
    assert model.params["Wx"].dtype == np.float32


def test_a_checkpoint_for_another_model_is_refused_on_resume(tmp_path):
    ck = TrainingCheckpoint.load(checkpoint_file(tmp_path / "model.npz"))
    with pytest.raises(CheckpointError, match=r"was made for another model: hidden_dim=8 \(model has 9\)"):
        ck.check_compatible(tiny_model(dtype=np.float32, H=9))


YAML_CASES = {
    "truncated": (lambda text: text[: len(text) // 2] + "\n  - [", "not valid YAML"),
    "random bytes": (lambda text: RNG.bytes(400).decode("latin-1"), ": not "),
    "not a mapping": (lambda text: "- just\n- a list\n", "expected a mapping at the top level"),
}


@pytest.mark.parametrize("case", YAML_CASES)
@pytest.mark.parametrize("name", ["sweep.yaml", "config.yaml"])
def test_damaged_yaml_is_one_line_naming_the_file(case, name, tmp_path):
    text = (ROOT / "config" / name).read_text()
    path = tmp_path / name
    damage, expected = YAML_CASES[case]
    path.write_text(damage(text), encoding="latin-1")
    with pytest.raises(CaptioningError) as err:
        data = load_yaml(path)
        if name == "sweep.yaml":
            Sweep.from_dict(validate_sweep(data, SCHEMAS / "sweep.schema.yaml", path), path)
        else:
            validate_file(data, SCHEMAS / "config.schema.yaml", str(path))
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{path}") and expected in str(err.value)


@pytest.mark.parametrize(
    "name, change, expected",
    [
        ("sweep.yaml", lambda d: d.pop("experiments"), "'experiments' is a required property"),
        ("sweep.yaml", lambda d: d["experiments"]["lstm"].update(hidden_dim="big"), "experiments.lstm.hidden_dim"),
        ("sweep.yaml", lambda d: d["experiments"]["lstm"].update(seeds=[0.5]), "experiments.lstm.seeds"),
        ("config.yaml", lambda d: d.pop("mlflow"), "'mlflow' is a required property"),
        ("config.yaml", lambda d: d["mlflow"].update(experiment=3), "mlflow.experiment"),
    ],
)
def test_a_missing_key_or_wrong_type_in_yaml_is_one_line_naming_it(name, change, expected, tmp_path):
    import yaml

    data = yaml.safe_load((ROOT / "config" / name).read_text())
    change(data)
    with pytest.raises(CaptioningError) as err:
        if name == "sweep.yaml":
            Sweep.from_dict(validate_sweep(data, SCHEMAS / "sweep.schema.yaml", "config/sweep.yaml"), "x")
        else:
            validate_file(data, SCHEMAS / "config.schema.yaml", "config")
    assert "\n" not in str(err.value) and expected in str(err.value), str(err.value)


@pytest.mark.parametrize("kind", [RunRecord, History])
@pytest.mark.parametrize("case", ["truncated", "random bytes", "empty"])
def test_damaged_records_are_one_line_naming_the_file(kind, case, tmp_path):
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"format": f"captioning-{kind.__name__.lower()}-1", "x": list(range(50))}))
    CHECKPOINT_CASES[case](path)
    before = digest(path)
    with pytest.raises(CaptioningError) as err:
        kind.read(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert digest(path) == before
