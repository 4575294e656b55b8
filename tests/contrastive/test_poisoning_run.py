"""The attack-then-train runs train for real: a tiny targeted and backdoor run of each arm completes, trains
(the model changes) and reports attack success and zero-shot accuracy as fractions."""

import pytest

from lessdata.data import find_fashion_mnist
from lessdata.errors import LessdataError

try:
    find_fashion_mnist(split="train")
except LessdataError:
    pytest.skip("Fashion-MNIST is not installed", allow_module_level=True)

from lessdata.contrastive.poisoning import clip_poisoning_run  # noqa: E402


@pytest.mark.parametrize("arm, attack", [("clip", "targeted"), ("clip", "backdoor"), ("safeclip", "backdoor")])
def test_a_tiny_poisoning_run_trains_and_reports(arm, attack):
    result = clip_poisoning_run(arm=arm, attack=attack, train_size=200, test_size=50, epochs=3, unimodal_epochs=1,
                                clip_warmup_epochs=1, n_targets=2, n_poisons=2, poison_rate=0.05,
                                batch_size=50)
    assert result["arm"] == arm and result["attack"] == attack
    for key in ("attack_success_rate", "zero_shot_accuracy"):
        assert 0.0 <= result[key] <= 1.0
