"""The Cloud Controller client: HTTP with retries and auth, config, paging, read-ahead.

It knows nothing of usage or audit events, and never imports Typer or rich.
"""
