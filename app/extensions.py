"""Extensions, created once here and bound in create_app()."""

from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect

db = SQLA()
appbuilder = AppBuilder(update_perms=True)
migrate = Migrate()
csrf = CSRFProtect()
talisman = Talisman()


def limiter():
    """The one Flask-Limiter instance: FAB's security manager owns it."""
    return appbuilder.sm.limiter
