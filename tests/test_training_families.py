"""A next-token PRM ("+"/"-" at a step tag, Math-Shepherd and RLHFlow formats), a tiny causal
LM built offline here, scores through the scorer API, the reward service,
evaluation and the project scoring run."""

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from tests.prm_factories import BAD_WORDS, GOOD_WORDS, NUMBERS, rule_examples, seed_project
from training.families import StepTagScorer, StepTagScoring

pytestmark = pytest.mark.portable

CHAT = ("{% for m in messages %}<|{{ m.role }}|> {{ m.content }} <|end|> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")
ITEMS = [("problem 3 solve ?", ["add 2 so", "oops wrong 4", "then 5"]),
         ("problem 8 solve ?", ["we get 9", "the sum is 12"])]


def build_step_tag_lm(path, seed: int = 0):
    """A 2-layer GPT-2 with random weights and a word-level tokenizer that knows the step
    tag, "+", "-" and a chat template: the scores are the recipe's, whatever they are."""
    import torch
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "ки", "+", "-", *GOOD_WORDS, *BAD_WORDS, *NUMBERS,
             "problem", "solve", "?", ".", "="]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    fast.add_tokens([AddedToken(t, special=True) for t in
                     ("<|user|>", "<|assistant|>", "<|end|>")], special_tokens=True)
    fast.chat_template = CHAT
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_embd=32, n_layer=2, n_head=2,
                                       n_positions=256))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    fast.save_pretrained(path)

    return path


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    path = build_step_tag_lm(root / "lm")
    return {"tag": path, "chat": path}


def _reference_math_shepherd(path, prompt, steps):
    """Math-Shepherd's model-card recipe, written out."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    good, bad, tag = (tok.convert_tokens_to_ids(t) for t in ("+", "-", "ки"))
    ids = torch.tensor([tok.encode(prompt + " " + "".join(s + " ки\n" for s in steps))])
    with torch.no_grad():
        scores = model(ids).logits[:, :, [good, bad]].softmax(-1)[:, :, 0]
    return scores[ids == tag].tolist()


def _reference_rlhflow(path, prompt, steps):
    """RLHFlow's recipe: one forward per step, the reply's logits after the generation prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    good, bad = tok.convert_tokens_to_ids("+"), tok.convert_tokens_to_ids("-")
    conversation, out = [], []
    for i, step in enumerate(steps):
        conversation.append({"role": "user", "content": prompt + " " + step if i == 0 else step})
        ids = tok.apply_chat_template(conversation, add_generation_prompt=True,
                                      return_tensors="pt", return_dict=False)
        with torch.no_grad():
            logits = model(ids).logits[0, -1, [good, bad]]
        out.append(float(logits.softmax(-1)[0]))
        conversation.append({"role": "assistant", "content": "+"})
    return out


@pytest.mark.parametrize("fmt, reference", [("tag", _reference_math_shepherd),
                                            ("chat", _reference_rlhflow)])
def test_next_token_prm_scores_like_its_own_recipe(lms, fmt, reference):
    scorer = StepTagScorer(lms[fmt], StepTagScoring(format=fmt))
    ours = scorer.score(ITEMS, batch_size=2)  # batched and padded
    for (prompt, steps), got in zip(ITEMS, ours):
        assert len(got) == len(steps) and len(set(got)) == len(got)  # one score per step
        assert got == pytest.approx(reference(lms[fmt], prompt, steps), abs=1e-4)


def test_a_bad_spec_is_refused_with_its_reason(lms):
    with pytest.raises(ValueError, match="step tag 'ки ки' is not one token"):
        StepTagScorer(lms["tag"], StepTagScoring(step_tag="ки ки"))
    with pytest.raises(ValueError, match="format must be one of"):
        StepTagScoring.from_dict({"format": "xml"})


@pytest.mark.django_db
def test_a_registered_next_token_prm_serves_rewards_evaluation_and_active_learning(
        lms, settings, make_user, tmp_path):
    from training.backends import scorer_for
    from training.evaluate import evaluate_examples, step_metrics
    from training.models import PrmModel, SolutionScore
    from training.scoring import score_project_solutions
    from training.services import TrainingError, register_model

    settings.MODELS_DIR = lms["tag"].parent
    user = make_user("brings")
    project = Project.objects.create(name="F", slug="f")
    Membership.objects.create(project=project, user=user, role=Membership.Role.ADMIN)
    with pytest.raises(TrainingError, match="No model '.*' that this project may use"):
        register_model(project=project, name="x", path=str(tmp_path))
    with pytest.raises(TrainingError, match="cannot score steps"):
        register_model(project=project, name="x", path=str(lms["tag"]),
                       scoring={"kind": "next_token", "good": "plus"})
    model = register_model(project=project, name="shepherd", path=str(lms["tag"]),
                           scoring={"kind": "next_token", "format": "tag"}, user=user)
    assert model.status == PrmModel.Status.READY and model.model_card["scoring"]["step_tag"] == "ки"

    expected = StepTagScorer(lms["tag"], StepTagScoring()).score(ITEMS[:1])[0]
    client = APIClient()
    client.force_login(user)
    r = client.post(f"/api/prm/{model.pk}/score/", {
        "aggregate": "min", "items": [{"problem": ITEMS[0][0], "steps": ITEMS[0][1]}]},
        format="json")
    assert r.status_code == 200, r.content
    assert r.json()["results"][0]["step_scores"] == pytest.approx(expected, abs=1e-5)

    held_out = rule_examples(12, seed=9)
    metrics = evaluate_examples(scorer_for(model), held_out)
    reference = [_reference_math_shepherd(lms["tag"], ex.prompt, ex.steps) for ex in held_out]
    assert metrics["step"] == step_metrics([ex.labels for ex in held_out], reference)

    solutions = seed_project(project, held_out, user, labeled=False)
    assert score_project_solutions(model) == len(solutions)
    assert SolutionScore.objects.filter(prm_model=model).count() == len(solutions)


@pytest.mark.django_db
def test_the_register_form_makes_a_ready_model_for_admins_only(lms, settings, make_user, client):
    from django.urls import reverse

    from training.models import PrmModel

    settings.MODELS_DIR = lms["chat"].parent
    admin, annotator = make_user("adm"), make_user("ann")
    project = Project.objects.create(name="G", slug="g")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    form = {"project": project.pk, "name": "rlhflow", "path": str(lms["chat"]), "family": "chat"}
    client.force_login(annotator)
    assert client.post(reverse("training:register"), form).status_code == 403
    client.force_login(admin)
    r = client.post(reverse("training:register"), {**form, "good": "yes"})
    assert r.status_code == 400 and "good token &#x27;yes&#x27; is not one token" in r.content.decode()
    r = client.post(reverse("training:register"), form)
    model = PrmModel.objects.get(project=project, name="rlhflow")
    assert r.status_code == 302 and model.model_card["scoring"]["format"] == "chat"
