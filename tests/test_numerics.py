import pytest
import torch

from helpers import BookError
from helpers.core.numerics import choose_qparams, dequantize, fake_quantize, quantization_error, quantize


@pytest.fixture
def weights():
    torch.manual_seed(0)
    return torch.randn(16, 24) * torch.linspace(0.1, 2.0, 16)[:, None] + 0.05


def test_per_tensor_matches_torch_quantize_per_tensor(weights):
    for symmetric in (True, False):
        qp = choose_qparams(weights, 8, symmetric)
        ours = quantize(weights, qp)
        ref = torch.quantize_per_tensor(weights, float(qp.scale), int(qp.zero_point), torch.qint8)
        assert torch.equal(ours, ref.int_repr().to(torch.int64))
        assert torch.allclose(dequantize(ours, qp), ref.dequantize(), atol=1e-6)


def test_per_channel_matches_torch_quantize_per_channel(weights):
    qp = choose_qparams(weights, 8, symmetric=True, per_channel=True)
    assert qp.scale.shape == (16,)
    ref = torch.quantize_per_channel(weights, qp.scale.double(), qp.zero_point, 0, torch.qint8)
    diff = (quantize(weights, qp) - ref.int_repr().to(torch.int64)).abs()
    # torch multiplies by 1/scale where we divide: values on a rounding tie may land one step apart
    assert int(diff.max()) <= 1 and int((diff > 0).sum()) <= 0.01 * diff.numel()


def test_error_is_at_most_half_a_step_and_shrinks_with_bits(weights):
    previous = float("inf")
    for bits in (2, 4, 8):
        x_hat, qp = fake_quantize(weights, bits, symmetric=False)
        err = quantization_error(weights, x_hat)
        assert err["max_abs"] <= float(qp.scale) / 2 + 1e-6
        assert err["rmse"] < previous
        previous = err["rmse"]


def test_per_channel_beats_per_tensor_when_rows_differ_in_range(weights):
    per_tensor = quantization_error(weights, fake_quantize(weights, 8)[0])
    per_channel = quantization_error(weights, fake_quantize(weights, 8, per_channel=True)[0])
    assert per_channel["sqnr_db"] > per_tensor["sqnr_db"]


def test_zero_is_exact_and_grid_is_signed():
    x = torch.tensor([-1.0, 0.0, 0.3, 2.0])
    for symmetric in (True, False):
        x_hat, qp = fake_quantize(x, 8, symmetric)
        assert x_hat[1] == 0.0
        assert (qp.qmin, qp.qmax, qp.bits) == (-128, 127, 8)


def test_bad_arguments():
    with pytest.raises(BookError, match="bits"):
        choose_qparams(torch.ones(3), bits=1)
    with pytest.raises(BookError, match="per-channel"):
        choose_qparams(torch.ones(3), per_channel=True)


def test_weights_share_a_scale_per_tensor_per_row_or_per_group(weights):
    from helpers.core.numerics import fake_quantize_weight

    for granularity in ("tensor", "channel", 8):
        rounded = fake_quantize_weight(weights, 4, granularity)
        groups = rounded.reshape({"tensor": (1, -1), "channel": (weights.shape[0], -1), 8: (-1, 8)}[granularity])
        originals = weights.reshape(groups.shape)
        for row, original in zip(groups, originals):  # each group: 16 levels, -8 to 7 steps of max |w| / 7.5
            step = original.abs().max() / 7.5
            levels = torch.round(row / step)
            assert torch.allclose(row, levels * step, atol=1e-5) and -8 <= levels.min() and levels.max() <= 7
    error = {g: quantization_error(weights, fake_quantize_weight(weights, 4, g))["sqnr_db"]
             for g in ("tensor", "channel", 8)}
    assert error["tensor"] < error["channel"] < error[8]  # finer scales, less noise
    sqnr = [quantization_error(weights, fake_quantize_weight(weights, b, 8))["sqnr_db"] for b in (8, 6, 4)]
    assert 5 < (sqnr[0] - sqnr[2]) / 4 < 7  # about 6 dB a bit


def test_groups_must_divide_the_rows(weights):
    from helpers.core.numerics import fake_quantize_weight

    with pytest.raises(BookError, match="group size dividing the 24"):
        fake_quantize_weight(weights, 4, 16)
    with pytest.raises(BookError, match="2 dimensions"):
        fake_quantize_weight(weights[0], 4, "channel")
