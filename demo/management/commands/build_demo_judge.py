"""Build the offline demo judge (a tiny GPT-2 that judges demo steps), once."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Train the demo judge into MODELS_DIR/demo-judge (skipped when already built); "
            "serve it with `transformers serve` or `vllm serve` of that directory.")

    def add_arguments(self, parser):
        parser.add_argument("--out", default="", help="Directory (default MODELS_DIR/demo-judge).")
        parser.add_argument("--steps", type=int, default=None,
                            help="Optimizer steps (default 4000: about 7 minutes of one core).")
        parser.add_argument("--quick", action="store_true",
                            help="A seconds-long smoke build (well-formed, often wrong).")
        parser.add_argument("--force", action="store_true", help="Rebuild even if cached.")
        parser.add_argument("--no-eval", action="store_true", help="Skip the evaluation.")

    def handle(self, *args, **opts):
        from dataclasses import replace

        from demo.judge_model import QUICK, JudgeBuildConfig, ensure_demo_judge

        config = QUICK if opts["quick"] else JudgeBuildConfig()
        if opts["steps"] is not None:
            if opts["steps"] < 1:
                raise CommandError("--steps must be positive.")
            config = replace(config, steps=opts["steps"])
        out = Path(opts["out"]) if opts["out"] else Path(settings.MODELS_DIR) / "demo-judge"
        result = ensure_demo_judge(out, config, force=opts["force"], evaluate=not opts["no_eval"],
                                   log=lambda m: self.stdout.write(m))
        if result.get("cached"):
            self.stdout.write(f"Demo judge already built at {out} (use --force to rebuild).")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Built demo judge at {out} in {result['train_seconds']}s: {result.get('eval')}"))
