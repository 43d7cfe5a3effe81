"""The workflow's gradient-check gate passes on the real layers and blocks training on wrong math."""

import numpy as np
import pytest

import captioning.layers as L
from captioning import CaptioningRNN
from captioning.pipeline.gradcheck import GradcheckFailed, gradcheck_gate, run_gradchecks


def test_gate_passes_and_writes_the_table(tmp_path):
    summary = gradcheck_gate(tmp_path / "gradcheck.tsv")
    lines = (tmp_path / "gradcheck.tsv").read_text().splitlines()
    assert lines[0] == "check\tmax_error\ttolerance\tstatus"
    names = [line.split("\t")[0] for line in lines[1:]]
    assert names == [
        "rnn_step",
        "rnn",
        "lstm_step",
        "lstm",
        "temporal_affine",
        "word_embedding",
        "temporal_softmax_loss",
        "CaptioningRNN[rnn]",
        "CaptioningRNN[lstm]",
        "CaptioningRNN[lstm].weighted_loss",
    ]
    assert all(line.endswith("\tok") for line in lines[1:])
    assert summary.startswith("10 gradient checks passed")


def test_gate_fails_with_a_readable_table_when_a_backward_is_wrong(tmp_path, monkeypatch):
    real = L.lstm_backward

    def off_by_a_bit(dh, cache):
        dx, dh0, dWx, dWh, db = real(dh, cache)
        return dx, dh0, dWx, dWh * 1.01, db  # a 1% error in dWh

    monkeypatch.setattr(L, "lstm_backward", off_by_a_bit)
    with pytest.raises(GradcheckFailed) as info:
        gradcheck_gate(tmp_path / "gradcheck.tsv")
    text = str(info.value)
    assert text.startswith("gradient check failed for lstm; training is blocked")
    row = next(line for line in text.splitlines() if line.startswith("lstm "))
    assert "FAILED" in row and float(row.split()[1]) > 1e-3
    assert not (tmp_path / "gradcheck.tsv").exists()


def test_gate_rejects_a_one_percent_error_in_the_weighted_loss_backward(tmp_path, monkeypatch):
    real = CaptioningRNN.weighted_loss

    def off_by_a_bit(self, features, captions, advantages):
        loss, grads = real(self, features, captions, advantages)
        return loss, {**grads, "W_vocab": grads["W_vocab"] * 1.01}

    monkeypatch.setattr(CaptioningRNN, "weighted_loss", off_by_a_bit)
    with pytest.raises(GradcheckFailed) as info:
        gradcheck_gate(tmp_path / "gradcheck.tsv")
    assert str(info.value).startswith("gradient check failed for CaptioningRNN[lstm].weighted_loss; training is")
    assert not (tmp_path / "gradcheck.tsv").exists()


def test_checks_are_tight_enough_to_catch_small_errors():
    errors = {c.name: c.error for c in run_gradchecks(seed=3)}
    assert max(errors.values()) < 1e-6
    assert np.all(np.isfinite(list(errors.values())))
