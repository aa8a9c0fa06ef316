"""Tests of monitor.ingest."""
