"""The gradient-check gate: numeric gradients of every layer and both models, in float64."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import layers as L
from ..atomic import write_text
from ..cells import CELLS
from ..errors import CaptioningError
from ..gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, scaled_error
from ..model import CaptioningRNN
from ..vocab import SPECIAL_TOKENS

log = logging.getLogger(__name__)


class GradcheckFailed(CaptioningError):
    """At least one analytic gradient disagrees with its numeric estimate."""


@dataclass(frozen=True)
class Check:
    name: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.error <= self.tolerance)


def layer_check(name, forward, backward, inputs, rng, tol, n_out=1, int_inputs=()) -> Check:
    """Worst scaled error of ``backward`` against numeric gradients of sum(out * dout), over float inputs."""
    outs = forward(*inputs)
    outs, cache = outs[:n_out], outs[n_out]
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(*douts, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    float_inputs = [k for k in range(len(inputs)) if k not in int_inputs]
    checks = []
    for k, g in zip(float_inputs, grads, strict=True):

        def f(v, k=k, j=0):
            args = list(inputs)
            args[k] = v
            return forward(*args)[j]

        num = sum(eval_numerical_gradient_array(lambda v, j=j: f(v, j=j), inputs[k], d) for j, d in enumerate(douts))
        checks.append(scaled_error(num, g))
    return Check(name, max(checks), tol)


def run_gradchecks(seed: int = 0, layer_tol: float = 1e-7, model_tol: float = 1e-6) -> list[Check]:
    rng = np.random.default_rng(seed)
    r = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    N, T, D, H, V = 3, 4, 5, 6, 7
    checks = [
        layer_check(
            "rnn_step",
            L.rnn_step_forward,
            L.rnn_step_backward,
            [r(N, D), r(N, H), r(D, H), r(H, H), r(H)],
            rng,
            layer_tol,
        ),
        layer_check(
            "rnn", L.rnn_forward, L.rnn_backward, [r(N, T, D), r(N, H), r(D, H), r(H, H), r(H)], rng, layer_tol
        ),
        layer_check(
            "lstm_step",
            L.lstm_step_forward,
            L.lstm_step_backward,
            [r(N, D), r(N, H), r(N, H), r(D, 4 * H), r(H, 4 * H), r(4 * H)],
            rng,
            layer_tol,
            n_out=2,
        ),
        layer_check(
            "lstm",
            L.lstm_forward,
            L.lstm_backward,
            [r(N, T, D), r(N, H), r(D, 4 * H), r(H, 4 * H), r(4 * H)],
            rng,
            layer_tol,
        ),
        layer_check(
            "temporal_affine",
            L.temporal_affine_forward,
            L.temporal_affine_backward,
            [r(N, T, D), r(D, V), r(V)],
            rng,
            layer_tol,
        ),
        layer_check(
            "word_embedding",
            L.word_embedding_forward,
            L.word_embedding_backward,
            [rng.integers(0, V, (N, T)), r(V, D)],
            rng,
            layer_tol,
            int_inputs=(0,),
        ),
    ]
    x, y, mask = 0.1 * r(N, T, V), rng.integers(0, V, (N, T)), rng.random((N, T)) > 0.3
    num = eval_numerical_gradient(lambda v: L.temporal_softmax_loss(v, y, mask)[0], x, verbose=False)
    checks.append(Check("temporal_softmax_loss", scaled_error(num, L.temporal_softmax_loss(x, y, mask)[1]), layer_tol))
    words = [*SPECIAL_TOKENS, "a", "b", "c"]
    for cell in CELLS:  # every registered cell, in the registry's order
        model = CaptioningRNN({w: i for i, w in enumerate(words)}, D, 4, H, cell_type=cell, dtype=np.float64, seed=seed)
        features = r(N, D)
        captions = rng.integers(len(SPECIAL_TOKENS), len(words), (N, T + 1))
        captions[:, 0] = model.start_id
        captions[0, 3:] = model.null_id
        _, grads = model.loss(features, captions)

        def loss(_, model=model, features=features, captions=captions):
            return model.loss(features, captions)[0]  # reads the params that eval_numerical_gradient perturbs

        worst = max(
            scaled_error(eval_numerical_gradient(loss, p, verbose=False), grads[k]) for k, p in model.params.items()
        )
        checks.append(Check(f"CaptioningRNN[{cell}]", worst, model_tol))
    checks.append(_weighted_loss_check(model, features, captions, rng, model_tol))  # the last cell's model
    return checks


def _weighted_loss_check(model, features, captions, rng, tol) -> Check:
    """The policy-gradient loss of self-critical training, with random advantages of both signs, on
    captions that end at different steps (one never ends, one has words after its <END>)."""
    captions = captions.copy()
    captions[1, 2], captions[2, 1] = model.end_id, model.end_id
    captions[0, 3:] = model.null_id
    advantages = rng.standard_normal(len(captions))
    _, grads = model.weighted_loss(features, captions, advantages)

    def loss(_):
        return model.weighted_loss(features, captions, advantages)[0]

    worst = max(
        scaled_error(eval_numerical_gradient(loss, p, verbose=False), grads[k]) for k, p in model.params.items()
    )
    return Check(f"CaptioningRNN[{model.cell_type}].weighted_loss", worst, tol)


def table(checks: list[Check]) -> str:
    rows = ["check\tmax_error\ttolerance\tstatus"]
    rows += [f"{c.name}\t{c.error:.3e}\t{c.tolerance:.0e}\t{'ok' if c.passed else 'FAILED'}" for c in checks]
    return "\n".join(rows) + "\n"


def gradcheck_gate(out_tsv, seed: int = 0, layer_tol: float = 1e-7, model_tol: float = 1e-6) -> str:
    """Write the checks to ``out_tsv``; raise :class:`GradcheckFailed` (with the table) if any fails."""
    checks = run_gradchecks(seed, layer_tol, model_tol)
    text = table(checks)
    log.info("%s", text.expandtabs(24))
    failed = [c.name for c in checks if not c.passed]
    if failed:
        raise GradcheckFailed(
            f"gradient check failed for {', '.join(failed)}; training is blocked until the math is fixed:\n"
            + text.expandtabs(24)
        )
    write_text(Path(out_tsv), text)
    return f"{len(checks)} gradient checks passed (worst {max(c.error for c in checks):.1e})"
