"""`cli.py report`: one self-contained HTML file with a run's curves, the `compare` table, the
grader-agreement summary and every transcript (see docs/report.md)."""

from skillmix.report.build import ReportSummary, build_report, report_data

__all__ = ["ReportSummary", "build_report", "report_data"]
