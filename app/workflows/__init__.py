"""Declarative workflows (DESIGN.md): the engine, the working-day calendar and one definition
module per domain. `all_workflows()` imports the definitions; nothing registers at import of
the package itself."""


def load_definitions() -> None:
    from app.workflows import licence, rental, usedcar  # noqa: F401
