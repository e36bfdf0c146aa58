"""The run's report: ``report.html`` drawn from a run directory's files (summary.json, histories,
canary records), never from the live run, so a run cut short or copied elsewhere still renders."""

from gameday.report.page import REPORT_FILE_NAME, build_report_html, render_report

__all__ = ["REPORT_FILE_NAME", "build_report_html", "render_report"]
