"""Diverged training fails with the epoch and the cause, never stored as a "done" cell at chance accuracy."""

import pytest
import torch
from torch import nn

from snnbench.measure.accuracy import evaluate
from snnbench.models import create_model
from snnbench.suite import ModelSpec, NeuronSpec, TrainSpec
from snnbench.train import apply_variant, build_optimizer, fit
from snnbench.train.divergence import TrainingDiverged, check_epoch, first_non_finite
from tests.train.test_variants import INFO, ToyBundle

CPU = torch.device("cpu")


def tiny_mlp():
    torch.manual_seed(0)
    spec = ModelSpec(name="mlp", depth=1, width=8, population=2, neuron=NeuronSpec(theta_init=0.5))
    return create_model(spec, INFO)


def stepped(optimizer="adam"):
    """A tiny mlp and its optimiser after one training step (so the optimiser has state)."""
    model = tiny_mlp()
    train = TrainSpec(optimizer=optimizer, batch_size=20)
    opt = build_optimizer(apply_variant(model, "stl", train.bn_affine), train)
    bundle = ToyBundle()
    x, y = next(iter(bundle.loader("train", 20)))
    nn.functional.mse_loss(model(bundle.to_input(x)), nn.functional.one_hot(y, 3).float()).backward()
    opt.step()
    return model, opt


def test_all_finite_state_passes():
    model, opt = stepped()
    assert first_non_finite(model, opt) is None
    check_epoch(model, opt, {"epoch": 1, "test_output_firing_rate": 0.1}, [])


def test_first_non_finite_parameter_buffer_and_optimizer_state_are_named():
    model, opt = stepped()
    names = [n for n, _ in model.named_parameters()]
    param = dict(model.named_parameters())[names[-1]]
    opt.state[param]["exp_avg_sq"][0] = float("inf")
    assert first_non_finite(model, opt) == f"optimizer state 'exp_avg_sq' of '{names[-1]}'"
    bn = next(n for n, _ in model.named_buffers() if n.endswith("running_var"))
    dict(model.named_buffers())[bn][0] = float("nan")
    assert first_non_finite(model, opt) == f"buffer '{bn}'"  # buffers come before optimiser state
    with torch.no_grad():
        dict(model.named_parameters())[names[1]][0] = float("nan")
    assert first_non_finite(model, opt) == f"parameter '{names[1]}'"
    with pytest.raises(TrainingDiverged) as info:
        check_epoch(model, opt, {"epoch": 4, "test_output_firing_rate": 0.1}, [])
    assert (info.value.epoch, info.value.reason) == (4, f"parameter '{names[1]}' is not finite (NaN or inf)")
    assert str(info.value) == (
        f"training diverged in epoch 4: parameter '{names[1]}' is not finite (NaN or inf) "
        "(hint: lower train.lr or set train.grad_clip)"
    )


def test_sgd_momentum_buffer_is_checked():
    model, opt = stepped("sgd")
    name, param = next(iter(model.named_parameters()))
    opt.state[param]["momentum_buffer"].fill_(float("nan"))
    assert first_non_finite(model, opt) == f"optimizer state 'momentum_buffer' of '{name}'"


def test_silence_after_spiking_is_divergence_but_silence_from_the_start_is_not():
    model, opt = stepped()
    history = [{"epoch": 1, "test_output_firing_rate": 0.0}, {"epoch": 2, "test_output_firing_rate": 0.03}]
    check_epoch(model, opt, {"epoch": 2, "test_output_firing_rate": 0.0}, history[:1])  # never spiked yet: fine
    with pytest.raises(TrainingDiverged) as info:
        check_epoch(model, opt, {"epoch": 3, "test_output_firing_rate": 0.0}, history)
    assert info.value.reason == "the network went silent (no output spike on the test split; it spiked in epoch 2)"
    check_epoch(model, opt, {"epoch": 3, "test_output_firing_rate": 1e-6}, history)  # one spike is enough


class ConstantRates(nn.Module):
    """Class rates 0.1, 0.2, 0.6 for every sample: output firing rate (0.1 + 0.2 + 0.6) / 3 = 0.3."""

    def forward(self, x):
        return torch.tensor([[0.1, 0.2, 0.6]]).expand(x.shape[1], 3)


def test_evaluate_reports_the_output_firing_rate():
    result = evaluate(ConstantRates(), ToyBundle(), CPU, seed=0, batch_size=25)
    assert result["test_samples"] == 60
    assert result["test_output_firing_rate"] == pytest.approx(0.3)
    assert result["test_acc"] == pytest.approx(20 / 60)  # argmax is class 2, a third of the labels


def test_huge_sgd_step_fails_in_epoch_1_although_the_loss_stays_finite():
    """lr 1e30: the weights turn NaN, the network stops spiking and the MSE stays at 1/classes (finite)."""
    model = tiny_mlp()
    saved, losses = [], []
    train = TrainSpec(optimizer="sgd", lr=1e30, epochs=3, batch_size=20)
    with pytest.raises(TrainingDiverged) as info:
        fit(
            model,
            ToyBundle(),
            train,
            CPU,
            seed=0,
            checkpoint=saved.append,
            on_batch=lambda i, n, loss, acc: losses.append(loss),
        )
    assert info.value.epoch == 1
    culprit = next(n for n, p in model.named_parameters() if not torch.isfinite(p).all())
    assert info.value.reason == f"parameter '{culprit}' is not finite (NaN or inf)"
    assert losses[-1] == pytest.approx(1 / 3)  # silent output, MSE against one-hot of 3 classes
    assert saved == []  # no checkpoint of a diverged state


def test_a_network_silenced_in_epoch_2_fails_in_epoch_2():
    model = tiny_mlp()
    records = []

    class Silence:
        def on_epoch_begin(self, epoch):
            if epoch == 2:  # thresholds far above any membrane: finite, but no neuron can fire again
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        if name.endswith("theta"):
                            p.fill_(1e6)

        def on_epoch_end(self, epoch, record):
            pass

    train = TrainSpec(epochs=3, batch_size=20, lr=1e-6)
    with pytest.raises(TrainingDiverged) as info:
        bundle = ToyBundle()
        fit(
            model, bundle, train, CPU, seed=0, hooks=[Silence()], on_epoch=records.append,
            evaluate=lambda m: evaluate(m, bundle, CPU, seed=0),
        )  # fmt: skip
    assert [r["epoch"] for r in records] == [1] and records[0]["test_output_firing_rate"] > 0
    assert info.value.epoch == 2
    assert info.value.reason == "the network went silent (no output spike on the test split; it spiked in epoch 1)"
