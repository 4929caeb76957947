"""Collectors: read posts from public platforms and analysts' export files.

Nothing in this package imports the rest of smearwatch: a collector yields `Post` records and
never touches the database or the analysis.
"""
