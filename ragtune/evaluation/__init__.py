"""Measuring runs: the competition's MAP@3 and standard IR metrics, failure reports and plots, run comparison."""
