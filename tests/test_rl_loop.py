"""The RL loop end to end: TRL's own GRPOTrainer trains the demo generator for a few steps,
with Stepwise's reward client calling a live Stepwise server for every completion."""

import pytest

from annotate.models import Membership, Project
from demo import domain
from demo.testing import build_test_model
from tests.prm_factories import ready_model, trained_tiny_prm

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_grpo_trainer_gets_a_reward_per_completion_and_the_policy_changes(
        live_server, make_user, tmp_path):
    import random

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from api.services import issue_token
    from training.client import PrmClient

    user = make_user("rl-trainer")
    project = Project.objects.create(name="RL", slug="rl")
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
    prm = ready_model(project, trained_tiny_prm(tmp_path / "prm"))
    _, key = issue_token(user=user, name="grpo")
    client = PrmClient(live_server.url, prm.pk, token=key)

    calls: list[int] = []

    def stepwise_reward(prompts=None, completions=None, **kwargs):
        rewards = client.grpo_reward(prompts=prompts, completions=completions, **kwargs)
        calls.append(len(rewards))
        assert len(rewards) == len(completions)
        return rewards

    policy_path = str(build_test_model())
    tokenizer = AutoTokenizer.from_pretrained(policy_path)
    policy = AutoModelForCausalLM.from_pretrained(policy_path)
    before = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    rng = random.Random(0)
    prompts = [domain.random_problem(rng).statement + "\n" for _ in range(8)]
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=4,
        num_generations=4, max_completion_length=24, learning_rate=1e-3, logging_steps=1,
        report_to=[], use_cpu=True, seed=0, save_strategy="no", bf16=False,
    )
    trainer = GRPOTrainer(model=policy, reward_funcs=[stepwise_reward], args=args,
                          train_dataset=Dataset.from_dict({"prompt": prompts}),
                          processing_class=tokenizer)
    trainer.train()

    assert calls and all(n == 4 for n in calls)  # one reward per completion, per batch
    changed = [k for k, v in trainer.model.state_dict().items()
               if not torch.equal(v.detach().cpu(), before[k])]
    assert changed, "GRPO left the policy's weights as they were"
