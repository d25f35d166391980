"""The torch-free half of the SKILL-MIX evaluation: what is generated (plan), where it is kept (store), how
outputs are read back (reader) and aggregated (reporting). The Lightning callback and `cli.py` build on it."""
