"""Adapters: the SQLAlchemy store behind the service's ports, and its migrations."""
