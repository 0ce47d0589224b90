"""``python -m majula_model`` = the ``majula`` command."""

from .cli import entry

entry()
