"""Making D_SKILL-MIX(k): a teacher LLM writes two-turn SKILL-MIX texts, a grader scores them, and only
full-marks texts are kept (`python cli.py generate`, see docs/generation.md)."""
