"""Violation tickets of governance.md: the aggregate, its rules, breach rules, points and
punishments. Pure: every function takes its instant and its settings."""
