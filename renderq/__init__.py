"""renderq: a render farm manager.

Installed, everything lives under this one package: ``renderq.controller``,
``renderq.agent``, ``renderq.tui``, ``renderq.client``, ``renderq.cli``,
``renderq.plugins``, ``renderq.demo`` and the generated stubs in ``renderq.v1``.
In the repository each of those is a top-level folder (see pyproject.toml).
"""

__version__ = "0.1.0"
