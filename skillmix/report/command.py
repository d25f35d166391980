"""The `report` command line: `cli.py report PATH... --output report.html [scoring options]`."""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from skillmix.compare import add_scoring_arguments
from skillmix.errors import InputError
from skillmix.metrics import ScoringOptions
from skillmix.report.build import build_report


def report_parser() -> ArgumentParser:
    """Written out like `compare`'s parser: several positional paths, and the same scoring options."""
    parser = ArgumentParser(
        prog="cli.py report",
        description=(
            "Write one self-contained HTML file (no network needed to open it) with the SKILL-MIX metrics "
            "vs. step per setting and k, the `compare` table with the differences to step 0, the "
            "grader-agreement summary when that analysis is available, and a transcript browser."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help=(
            "What `compare` reads: evaluation outputs of one or more runs (a log directory, its "
            "skillmix_eval folder or one records.jsonl), or a folder in the reference SKILL-MIX layout."
        ),
    )
    parser.add_argument("--output", type=Path, required=True, help="The HTML file to write.")
    parser.add_argument(
        "--chunk_size",
        type=int,
        default=100,
        help="Transcripts per compressed chunk; the page unpacks a chunk when one of its items is shown.",
    )
    add_scoring_arguments(parser)
    return parser


def main(argv: list[str]) -> None:
    arguments = report_parser().parse_args(argv).as_dict()
    options = ScoringOptions(
        programmatic_length=arguments["programmatic_length"],
        name_penalty=arguments["name_penalty"],
        generation_aggregate=arguments["generation_aggregate"],
        reference_compat=arguments["reference_compat"],
    )
    if arguments["chunk_size"] < 1:
        raise InputError(f"--chunk_size must be at least 1, got {arguments['chunk_size']}.")
    build_report(arguments["paths"], arguments["output"], options, arguments["chunk_size"])
