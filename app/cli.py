"""`flask regportal ...`: setup (migrate, permissions, roles, administrative divisions, demo
data), sync-roles, worker (the background-job consumer)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


def sync_roles() -> None:
    """Make the built-in roles hold exactly the permissions of ROLE_PERMISSIONS (data)."""
    from flask_appbuilder.security.sqla.models import PermissionView

    from app import security as s
    from app.extensions import db

    sm = current_app.appbuilder.sm
    for name in s.BUILTIN_ROLES:
        if sm.find_role(name) is None:
            sm.add_role(name)
    for role_name, pairs in s.ROLE_PERMISSIONS.items():
        role = sm.find_role(role_name)
        pvs = []
        for perm, view in pairs:
            pv = sm.find_permission_view_menu(perm, view)
            if pv is None:
                pv = sm.add_permission_view_menu(perm, view)
            pvs.append(pv)
        role.permissions = pvs
    sm.find_role(s.ROLE_ADMIN).permissions = db.session.query(PermissionView).all()
    db.session.commit()


def create_permissions() -> None:
    """Every view's permissions and every menu entry, added and never deleted.

    FAB's update_perms deletes a view's permissions that the view itself does not list,
    which fights our ModelView/ModelRestApi twins sharing one class_permission_name."""
    appbuilder = current_app.appbuilder
    sm = appbuilder.sm
    for view in appbuilder.baseviews:
        name = getattr(view, "class_permission_name", None)
        for perm in getattr(view, "base_permissions", None) or []:
            if name and sm.find_permission_view_menu(perm, name) is None:
                sm.add_permission_view_menu(perm, name)
    for item in appbuilder.menu.get_list():
        for entry in [item, *(item.childs or [])]:
            if entry.name and sm.find_permission_view_menu("menu_access", entry.name) is None:
                sm.add_permission_view_menu("menu_access", entry.name)


def register_cli(app) -> None:
    @app.cli.group("regportal")
    def regportal():
        """RegPortal administration."""

    @regportal.command("setup")
    @click.option("--demo/--no-demo", default=None,
                  help="Load demo data into an empty database (default: outside production).")
    @with_appcontext
    def setup(demo):
        """Upgrade the schema, create permissions, sync roles, load the administrative
        divisions, load demo data if empty."""
        from flask_migrate import upgrade

        from app.demo import load_demo_data
        from app.extensions import db
        from app.models.org import Enterprise
        from app.services.regions import load_regions

        upgrade()
        create_permissions()
        sync_roles()
        added = load_regions()
        db.session.commit()
        if added:
            click.echo(f"Administrative divisions: {added} added.")
        from app.services.licence_check import load_conditions

        added = load_conditions(db.session)
        db.session.commit()
        if added:
            click.echo(f"Power licence conditions: {added} added.")
        if demo is None:
            demo = current_app.config["LOAD_DEMO_DATA"]
        if demo and current_app.config["PRODUCTION"]:
            raise click.ClickException("Demo data is never loaded with REGPORTAL_ENV=production")
        if demo and db.session.query(Enterprise.id).first() is None:
            load_demo_data()
            click.echo("Demo data loaded.")
        click.echo("Setup complete.")

    @regportal.command("worker")
    @click.option("--workers", type=int, default=None,
                  help="Worker threads (default: HUEY_WORKERS, 2).")
    @with_appcontext
    def worker(workers):
        """Run the background-job consumer (Huey) with its periodic tasks."""
        import logging

        from app.services import jobs

        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            jobs.run_worker(current_app._get_current_object(), workers)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc

    @regportal.command("sync-roles")
    @with_appcontext
    def sync_roles_cmd():
        """Re-apply the built-in role permissions."""
        create_permissions()
        sync_roles()
        click.echo("Roles synchronised.")
