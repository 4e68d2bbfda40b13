"""``ssl-kd report``: a self-contained HTML page (and PNGs) summarising a run."""

from ssl_kd.report.builder import REPORT_DIR, REPORT_FILE, build_report

__all__ = ["REPORT_DIR", "REPORT_FILE", "build_report"]
