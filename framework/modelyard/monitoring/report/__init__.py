"""The monitoring report: one self-contained HTML file (inline SVG plots, no scripts) or JSON."""
