"""The ``modelyard`` command line. ``main.COMMANDS`` is the lazy command table."""
