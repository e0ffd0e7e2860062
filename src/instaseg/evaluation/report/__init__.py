"""Evaluation reports: metrics.json, Markdown and HTML with tables and pictures."""

from instaseg.evaluation.report.writer import metrics_payload, write_report

__all__ = ["metrics_payload", "write_report"]
