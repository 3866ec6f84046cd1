"""Build the offline demo model (a tiny GPT-2 for the arithmetic domain), once."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Train the demo model into MODELS_DIR/demo-arith (skipped when already built)."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="", help="Directory (default MODELS_DIR/demo-arith).")
        parser.add_argument("--steps", type=int, default=None,
                            help="Optimizer steps (default 1000: a few minutes on one core).")
        parser.add_argument("--long", action="store_true",
                            help="Train 3x longer for more accurate arithmetic.")
        parser.add_argument("--quick", action="store_true",
                            help="A seconds-long smoke build (well-formed, mostly wrong).")
        parser.add_argument("--force", action="store_true", help="Rebuild even if cached.")
        parser.add_argument("--no-eval", action="store_true", help="Skip the sampled evaluation.")

    def handle(self, *args, **opts):
        from dataclasses import replace

        from demo.model import QUICK, BuildConfig, ensure_demo_model

        config = QUICK if opts["quick"] else BuildConfig()
        if opts["long"]:
            config = replace(config, steps=config.steps * 3)
        if opts["steps"] is not None:
            if opts["steps"] < 1:
                raise CommandError("--steps must be positive.")
            config = replace(config, steps=opts["steps"])
        out = Path(opts["out"]) if opts["out"] else Path(settings.MODELS_DIR) / "demo-arith"
        result = ensure_demo_model(out, config, force=opts["force"], evaluate=not opts["no_eval"],
                                   log=lambda m: self.stdout.write(m))
        if result.get("cached"):
            self.stdout.write(f"Demo model already built at {out} (use --force to rebuild).")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Built demo model at {out} in {result['train_seconds']}s: {result.get('eval')}"))
