"""The notebook's checks, run against ``captioning`` in place of ``cs231n``."""

import numpy as np

from captioning import (
    CaptioningRNN,
    eval_numerical_gradient_array,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rel_error,
)


def test_lstm_step_forward_matches_notebook():
    N, D, H = 3, 4, 5
    x = np.linspace(-0.4, 1.2, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.3, 0.7, num=N * H).reshape(N, H)
    prev_c = np.linspace(-0.4, 0.9, num=N * H).reshape(N, H)
    Wx = np.linspace(-2.1, 1.3, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.7, 2.2, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.3, 0.7, num=4 * H)
    next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    expected_next_h = np.asarray(
        [
            [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
            [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
            [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299],
        ]
    )
    expected_next_c = np.asarray(
        [
            [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
            [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
            [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676],
        ]
    )
    assert rel_error(expected_next_h, next_h) < 1e-8
    assert rel_error(expected_next_c, next_c) < 1e-8


def test_lstm_forward_matches_notebook():
    N, D, H, T = 2, 5, 4, 3
    x = np.linspace(-0.4, 0.6, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.4, 0.8, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.9, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.3, 0.6, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.2, 0.7, num=4 * H)
    h, _ = lstm_forward(x, h0, Wx, Wh, b)
    expected_h = np.asarray(
        [
            [
                [0.01764008, 0.01823233, 0.01882671, 0.0194232],
                [0.11287491, 0.12146228, 0.13018446, 0.13902939],
                [0.31358768, 0.33338627, 0.35304453, 0.37250975],
            ],
            [
                [0.45767879, 0.4761092, 0.4936887, 0.51041945],
                [0.6704845, 0.69350089, 0.71486014, 0.7346449],
                [0.81733511, 0.83677871, 0.85403753, 0.86935314],
            ],
        ]
    )
    assert h.shape == (N, T, H)
    assert rel_error(expected_h, h) < 1e-7


def test_lstm_captioning_loss_matches_notebook():
    N, D, W, H = 10, 20, 30, 40
    word_to_idx = {"<NULL>": 0, "cat": 2, "dog": 3}
    V, T = len(word_to_idx), 13
    model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type="lstm", dtype=np.float64)
    for k, v in model.params.items():
        model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)
    features = np.linspace(-0.5, 1.7, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % V).reshape(N, T)
    loss, _ = model.loss(features, captions)
    assert abs(loss - 9.82445935443) < 1e-10


def test_notebook_lstm_step_backward_check():
    rng = np.random.default_rng(231)
    N, D, H = 4, 5, 6
    x, prev_h, prev_c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    dnext_h, dnext_c = rng.standard_normal(next_h.shape), rng.standard_normal(next_c.shape)
    grads = lstm_step_backward(dnext_h, dnext_c, cache)
    inputs = [x, prev_h, prev_c, Wx, Wh, b]
    for k, (arr, analytic) in enumerate(zip(inputs, grads, strict=True)):

        def f_h(v, k=k):
            args = list(inputs)
            args[k] = v
            return lstm_step_forward(*args)[0]

        def f_c(v, k=k):
            args = list(inputs)
            args[k] = v
            return lstm_step_forward(*args)[1]

        num = eval_numerical_gradient_array(f_h, arr, dnext_h) + eval_numerical_gradient_array(f_c, arr, dnext_c)
        assert rel_error(num, analytic) < 1e-7, k


def test_notebook_lstm_backward_check():
    rng = np.random.default_rng(231)
    N, D, T, H = 2, 3, 10, 6
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    out, cache = lstm_forward(x, h0, Wx, Wh, b)
    dout = rng.standard_normal(out.shape)
    grads = lstm_backward(dout, cache)
    inputs = [x, h0, Wx, Wh, b]
    for k, (arr, analytic) in enumerate(zip(inputs, grads, strict=True)):

        def f(v, k=k):
            args = list(inputs)
            args[k] = v
            return lstm_forward(*args)[0]

        assert rel_error(eval_numerical_gradient_array(f, arr, dout), analytic) < 1e-6, k
