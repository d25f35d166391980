"""SKILL-MIX evaluation of checkpoints during training and in `cli.py validate`."""

from lightning_modules.skillmix_eval.callback import SkillMixEvalCallback

__all__ = ["SkillMixEvalCallback"]
