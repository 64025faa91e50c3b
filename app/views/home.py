"""Home page: what the current user can do, by role."""

from __future__ import annotations

from flask import g
from flask_appbuilder import IndexView, expose


class HomeIndexView(IndexView):
    index_template = "home.html"

    @expose("/")
    def index(self):
        user = g.user if g.user is not None and g.user.is_authenticated else None
        return self.render_template(self.index_template, appbuilder=self.appbuilder,
                                    user=user)
