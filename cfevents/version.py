"""The version of cfevents, in a module of its own: what needs it (the User-Agent, stores'
``written_by``, ``--version``) imports it without importing the package's names."""

__version__ = "0.3.0.dev0"
