"""CaptioningSolver: the notebook's overfit check, checkpoints, bitwise resume, divergence, clipping, sinks."""

import os
import textwrap

import numpy as np
import pytest
from helpers import kill_mid_epoch, tiny_model

from captioning import CaptioningRNN
from captioning.checkpoint import CheckpointError, load_model
from captioning.data.coco import load_coco_data
from captioning.evaluation import evaluate_model
from captioning.solver import CaptioningSolver, SolverConfig, TrainingDiverged


def make(data, cell="lstm", H=32, W=16, seed=0):
    D = data["train_features"].shape[1]
    return tiny_model(cell, D=D, W=W, H=H, dtype=np.float32, seed=seed, word_to_idx=data["word_to_idx"])


RUNTIME = ("checkpoint_path", "sinks", "progress", "print_every", "verbose")


def solver(model, data, **kw):
    """A solver with small settings; ``kw`` overrides any SolverConfig field or runtime argument."""
    settings = dict(update_rule="adam", optim_config={"learning_rate": 5e-3}, batch_size=25, num_epochs=3)
    settings.update(eval_images=10)
    settings.update({k: v for k, v in kw.items() if k not in RUNTIME})
    runtime = {"verbose": False, **{k: v for k, v in kw.items() if k in RUNTIME}}
    return CaptioningSolver(model, data, SolverConfig(**settings), **runtime)


def test_notebook_overfit_check(small_dataset):
    # 50 training captions as in the notebook; like COCO's 400k captions they come from 50 distinct
    # images (the fixture has 5 captions per image, which a model cannot all memorise).
    small = load_coco_data(small_dataset)
    one_per_image = np.unique(small["train_image_idxs"], return_index=True)[1][:50]
    small["train_captions"] = small["train_captions"][one_per_image]
    small["train_image_idxs"] = small["train_image_idxs"][one_per_image]
    m = CaptioningRNN(
        small["word_to_idx"],
        input_dim=small["train_features"].shape[1],
        wordvec_dim=256,
        hidden_dim=512,
        cell_type="lstm",
        dtype=np.float32,
        seed=231,
    )
    s = CaptioningSolver(
        m,
        small,
        update_rule="adam",
        num_epochs=50,
        batch_size=25,
        optim_config={"learning_rate": 5e-3},
        lr_decay=0.995,
        verbose=False,
        config=SolverConfig(eval_images=0),
    )
    s.train()
    assert len(s.loss_history) == 100
    assert s.loss_history[0] > 20 and s.loss_history[-1] < 0.5


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_every_update_rule_lowers_the_loss(small_dataset, rule):
    data = load_coco_data(small_dataset)
    lr = {"sgd": 0.5, "sgd_momentum": 0.1, "rmsprop": 3e-3, "adam": 5e-3}[rule]
    s = solver(make(data), data, update_rule=rule, optim_config={"learning_rate": lr}, num_epochs=4, eval_images=0)
    s.train()
    assert np.mean(s.loss_history[-3:]) < 0.8 * np.mean(s.loss_history[:3])


def test_resume_is_bitwise_identical(small_dataset, tmp_path):
    data = load_coco_data(small_dataset)
    full = solver(make(data), data, checkpoint_path=tmp_path / "full.npz", lr_decay=0.9, grad_clip=5.0)
    full.train()
    first = solver(make(data), data, checkpoint_path=tmp_path / "part.npz", lr_decay=0.9, grad_clip=5.0, num_epochs=1)
    first.train()
    resumed = solver(make(data, seed=99), data, checkpoint_path=tmp_path / "part.npz", lr_decay=0.9, grad_clip=5.0)
    resumed.train(resume_from=tmp_path / "part.npz")
    for k in full.model.params:
        np.testing.assert_array_equal(full.model.params[k], resumed.model.params[k])
    assert full.loss_history == resumed.loss_history
    assert full.state.epoch_history == resumed.state.epoch_history


KILLED_RUN = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {tests!r})
    from test_solver import make, solver
    from captioning.data.coco import load_coco_data
    data = load_coco_data({data!r})
    s = solver(make(data), data, checkpoint_path={ckpt!r}, num_epochs=200, eval_images=0)
    s.train()
""")


def test_resume_after_a_process_is_killed_mid_epoch(small_dataset, tmp_path):
    ckpt = tmp_path / "run.npz"
    kill_mid_epoch(KILLED_RUN.format(tests=os.path.dirname(__file__), data=str(small_dataset), ckpt=str(ckpt)), ckpt)
    data = load_coco_data(small_dataset)
    resumed = solver(make(data), data, checkpoint_path=ckpt, num_epochs=200, eval_images=0)
    resumed.train(resume_from=ckpt)
    reference = solver(make(data), data, num_epochs=200, eval_images=0)
    reference.train()
    assert 0 < len(resumed.loss_history) == len(reference.loss_history)
    for k in reference.model.params:
        np.testing.assert_array_equal(reference.model.params[k], resumed.model.params[k])


def test_checkpoint_for_another_model_or_vocabulary_is_refused(small_dataset, tmp_path):
    data = load_coco_data(small_dataset)
    s = solver(make(data), data, checkpoint_path=tmp_path / "c.npz", num_epochs=1)
    s.train()
    with pytest.raises(CheckpointError, match=r"c\.npz was made for another model: hidden_dim=32 \(model has 48\)"):
        solver(make(data, H=48), data).restore(tmp_path / "c.npz")
    with pytest.raises(CheckpointError, match=r"cell_type='lstm' \(model has 'rnn'\)"):
        solver(make(data, cell="rnn"), data).restore(tmp_path / "c.npz")
    other = dict(data, word_to_idx={**data["word_to_idx"], "zebra": len(data["word_to_idx"])})
    m = CaptioningRNN(other["word_to_idx"], input_dim=32, wordvec_dim=16, hidden_dim=32, cell_type="lstm")
    with pytest.raises(CheckpointError, match=r"another vocabulary \(\d+ words\) than the model's \(\d+ words\)"):
        solver(m, data).restore(tmp_path / "c.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"junk\.npz is unreadable"):
        solver(make(data), data).restore(tmp_path / "junk.npz")
    model, ck = load_model(tmp_path / "c.npz")
    assert ck.state["epoch"] == 1 and model.hidden_dim == 32


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_divergence_stops_with_a_clear_message_and_keeps_the_last_checkpoint(small_dataset, tmp_path):
    data = load_coco_data(small_dataset)
    ckpt = tmp_path / "d.npz"
    s = solver(
        make(data), data, update_rule="sgd", optim_config={"learning_rate": 0.1}, checkpoint_path=ckpt, num_epochs=1
    )
    s.train()
    good = ckpt.read_bytes()
    s.num_epochs = 3
    for cfg in s.optim_configs.values():
        cfg["learning_rate"] = 1e30
    with pytest.raises(
        TrainingDiverged, match=r"training diverged: loss is (nan|inf) at iteration \d+ \(epoch 2\).*d\.npz"
    ):
        s.train()
    assert ckpt.read_bytes() == good


def test_gradient_clipping_bounds_the_update(small_dataset):
    data = load_coco_data(small_dataset)
    m = make(data)
    before = {k: v.copy() for k, v in m.params.items()}
    s = solver(m, data, update_rule="sgd", optim_config={"learning_rate": 1.0}, grad_clip=1e-3)
    s._step(data["train_captions"][:25], data["train_features"][data["train_image_idxs"][:25]])
    step = np.sqrt(sum(float(np.sum((m.params[k] - before[k]).astype(np.float64) ** 2)) for k in before))
    assert step == pytest.approx(1e-3, rel=1e-3)


def test_sinks_progress_best_params_and_early_stopping(small_dataset):
    data = load_coco_data(small_dataset)

    class Sink:
        def __init__(self):
            self.iterations, self.epochs = [], []

        def log_iteration(self, it, loss):
            self.iterations.append((it, loss))

        def log_epoch(self, epoch, metrics):
            self.epochs.append((epoch, metrics))

    sink = Sink()
    s = solver(make(data), data, sinks=[sink], num_epochs=30, patience=2, optim_config={"learning_rate": 5e-2})
    summary = s.train()
    assert [i for i, _ in sink.iterations] == list(range(1, len(s.loss_history) + 1))
    assert [e for e, _ in sink.epochs] == list(range(1, summary["epochs"] + 1))
    keys = {
        "epoch",
        "train_loss",
        "learning_rate",
        "val_loss",
        "val_BLEU-1",
        "val_BLEU-4",
        "val_CIDEr-D",
        "val_sentence_BLEU-1_first_ref",
    }
    assert keys <= set(sink.epochs[0][1])
    scores = [m["val_BLEU-4"] for _, m in sink.epochs]
    assert summary["best_val_BLEU-4"] == max(scores) and summary["best_epoch"] == 1 + int(np.argmax(scores))
    if summary["stopped_early"]:
        assert summary["epochs"] - summary["best_epoch"] == 2
    # the best epoch's parameters are restored at the end
    again = s.evaluate_epoch()
    assert again["val_BLEU-4"] == pytest.approx(max(scores))


def test_evaluate_model_has_the_notebooks_semantics(small_dataset):
    data = load_coco_data(small_dataset)
    m = make(data)
    scores = evaluate_model(m, data, batch_size=50, seed=0, verbose=False)
    assert set(scores) == {"train", "val"} and all(0 <= v <= 1 for v in scores.values())
    assert scores == evaluate_model(m, data, batch_size=50, seed=0, verbose=False)


def test_the_notebooks_constructor_call_works_and_other_settings_go_in_the_config(small_dataset):
    data = load_coco_data(small_dataset)
    s = CaptioningSolver(  # the notebook's call, argument for argument
        make(data),
        data,
        update_rule="adam",
        num_epochs=1,
        batch_size=25,
        optim_config={"learning_rate": 5e-3},
        lr_decay=0.995,
        verbose=False,
        print_every=10,
    )
    assert (s.update_rule_name, s.num_epochs, s.batch_size, s.lr_decay) == ("adam", 1, 25, 0.995)
    assert s.config == SolverConfig("adam", {"learning_rate": 5e-3}, 0.995, 25, 1)
    with pytest.raises(TypeError, match="unexpected argument 'grad_clip'.* config=SolverConfig"):
        CaptioningSolver(make(data), data, grad_clip=5.0)
    with pytest.raises(ValueError, match="CaptioningSolver: batch_size must be a positive integer, got 0"):
        CaptioningSolver(make(data), data, batch_size=0)
