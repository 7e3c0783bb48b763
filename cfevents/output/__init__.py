"""Rendering records: the formatters and the documented column sets (never imports requests)."""
