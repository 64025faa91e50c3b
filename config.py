"""RegPortal configuration: documented defaults, secrets and URLs from the environment.

Environment variables:
  REGPORTAL_ENV     "development" (default) or "production". Production refuses to start
                    without SECRET_KEY, never loads demo data and marks cookies Secure.
  SECRET_KEY        session/CSRF/token signing key. In development a random key is generated
                    once and kept in instance/secret_key.
  DATABASE_URL      SQLAlchemy URL; default is a SQLite file under instance/.
                    PostgreSQL: postgresql+psycopg://user:pass@host/db
  REDIS_URL         optional; Flask-Limiter storage (shared by several workers) and the
                    Huey job queue (RedisHuey instead of SqliteHuey under instance/).
  HUEY_IMMEDIATE    "1" runs background jobs inside the request (no consumer; tests, debugging).
  HUEY_WORKERS      worker threads of `flask regportal worker` (default 2).
  EXPORT_SYNC_MAX_ROWS  exports up to this many rows download at once; larger ones run as a
                    background job with progress in "my downloads" (default 5000).
  JOB_RETENTION_DAYS    finished jobs and their files are removed after this many days (7).
  MAIL_SERVER, MAIL_PORT, MAIL_USERNAME, MAIL_PASSWORD, MAIL_USE_TLS, MAIL_FROM
                    SMTP for password-reset mail; without MAIL_SERVER mail goes to the outbox
                    page that system admins read.
  CAPTCHA_ENABLED   "0" turns the login captcha off (tests, demos). Default on.
  ATTACHMENT_MAX_BYTES  upload size limit (default 10 MiB).
  IMPORT_MAX_BYTES  .xlsx import size limit (default 10 MiB), checked before parsing.
  IMPORT_MAX_ROWS   data rows one .xlsx import may hold (default 10000).
  PORT              dev server port (default 8080), used by `make run`.
  PUBLIC_BASE_URL   the portal's public address, for links in mail (required in production).
  PROXY_FIX_X_FOR   trusted reverse proxies in front of the app (0 = none).

Report windows (app/workflows/windows.py) are not read from the environment: the defaults are
REPORT_WINDOWS below; a deployment overrides them in the app config (create_app({...}) or a
config object), kind by kind.
"""

import os
import secrets

BASE_DIR = os.path.abspath(os.path.dirname(__file__))
INSTANCE_DIR = os.environ.get("REGPORTAL_INSTANCE", os.path.join(BASE_DIR, "instance"))


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _secret_key(production: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise RuntimeError(
            "SECRET_KEY must be set in the environment when REGPORTAL_ENV=production"
        )
    # Development: generate once, keep it so sessions survive restarts.
    os.makedirs(INSTANCE_DIR, exist_ok=True)
    path = os.path.join(INSTANCE_DIR, "secret_key")
    if not os.path.exists(path):
        with open(path, "w") as fh:
            fh.write(secrets.token_hex(32))
        os.chmod(path, 0o600)
    with open(path) as fh:
        return fh.read().strip()


# When a periodic report may be submitted (app/workflows/windows.py, docs/platform.md
# "Report windows"). Per report kind:
#   period        "month" | "quarter" | "year"
#   opens_month   the n-th month after the period ends in which the window opens (default 1:
#                 month M -> M+1, Q3 -> October, a year -> January of the next year)
#   opens_day     day of that month, from 00:00 (default 1)
#   closes_month  the n-th month after the period ends in which it closes (default 1)
#   closes_day    day of that month, closing at its end, 23:59:59.999999 (clamped to the
#                 month's length: 31 = the last day)
#   grace_days    calendar days after the close during which a submission is accepted but
#                 flagged late (default 0)
# Per-enterprise extensions are granted by the authority and passed to windows.status().
REPORT_WINDOWS = {
    # Used-car trade monthly report (SPEC U7): month M from the 1st to the 15th of M+1.
    "usedcar_monthly": {"period": "month", "opens_day": 1, "closes_day": 15,
                        "grace_days": 5},
    # Appraisal institutions' quarterly report (SPEC U8): the 1st to the 15th after the
    # quarter.
    "usedcar_quarterly": {"period": "quarter", "opens_day": 1, "closes_day": 15,
                          "grace_days": 5},
    # Local finance business reports (SPEC F8, F9).
    "finance_monthly": {"period": "month", "opens_day": 1, "closes_day": 15},
    "finance_quarterly": {"period": "quarter", "opens_day": 1, "closes_day": 20},
    "finance_annual": {"period": "year", "opens_month": 1, "opens_day": 1,
                       "closes_month": 4, "closes_day": 30},
}


class Config:
    def __init__(self) -> None:
        self.REGPORTAL_ENV = os.environ.get("REGPORTAL_ENV", "development")
        production = self.REGPORTAL_ENV == "production"
        self.PRODUCTION = production
        self.SECRET_KEY = _secret_key(production)

        os.makedirs(INSTANCE_DIR, exist_ok=True)
        self.INSTANCE_DIR = INSTANCE_DIR
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", "sqlite:///" + os.path.join(INSTANCE_DIR, "regportal.db")
        )
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False

        # FAB: schema and permissions come from migrations and `flask fab create-permissions`.
        self.FAB_CREATE_DB = False
        # Permissions are created by `flask regportal setup` (after migrations), not at import.
        self.FAB_UPDATE_PERMS = _env_flag("FAB_UPDATE_PERMS", False)
        self.FAB_SECURITY_MANAGER_CLASS = "app.security.AppSecurityManager"
        self.FAB_ADD_SECURITY_VIEWS = True
        self.FAB_ADD_SECURITY_PERMISSION_VIEW = True
        self.FAB_ADD_SECURITY_VIEW_MENU_VIEW = True
        self.FAB_ADD_SECURITY_PERMISSION_VIEWS_VIEW = True
        self.FAB_API_SWAGGER_UI = True
        self.FAB_API_MAX_PAGE_SIZE = 100
        self.FAB_MAX_PAGE_SIZE = 100  # our cap for psize_<View> (FAB leaves it uncapped)
        self.FAB_INDEX_VIEW = "app.views.home.HomeIndexView"
        self.FAB_BASE_TEMPLATE = "regportal_base.html"
        self.APP_NAME = "RegPortal 监管服务平台"
        self.APP_THEME = ""
        self.AUTH_TYPE = 1  # AUTH_DB
        self.AUTH_ROLE_ADMIN = "System Admin"
        self.AUTH_ROLE_PUBLIC = "Public"
        self.AUTH_USER_REGISTRATION = False
        self.AUTH_RATE_LIMITED = True
        self.AUTH_RATE_LIMIT = "10 per minute"
        self.FAB_PASSWORD_COMPLEXITY_ENABLED = True
        self.JWT_ACCESS_TOKEN_EXPIRES = 3600
        # FAB's API keys would bypass our 2FA and password gates: off.
        self.FAB_API_KEY_ENABLED = False
        # Links in mail are built from this, never from the request's Host header.
        self.PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
        if production and not self.PUBLIC_BASE_URL:
            raise RuntimeError("PUBLIC_BASE_URL must be set when REGPORTAL_ENV=production")
        if not self.PUBLIC_BASE_URL:
            self.PUBLIC_BASE_URL = "http://127.0.0.1:" + os.environ.get("PORT", "8080")
        # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust
        # (client IP for rate limits and the audit trail). 0: none, use the socket address.
        self.PROXY_FIX_X_FOR = int(os.environ.get("PROXY_FIX_X_FOR", "0"))

        # i18n: Simplified Chinese first; our catalogs override FAB's dated zh catalog.
        self.BABEL_DEFAULT_LOCALE = "zh"
        self.BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASE_DIR, "translations")
        self.LANGUAGES = {
            "zh": {"flag": "cn", "name": "简体中文"},
            "en": {"flag": "gb", "name": "English"},
        }

        # Rate limits: FAB disables Flask-Limiter by default.
        self.RATELIMIT_ENABLED = _env_flag("RATELIMIT_ENABLED", True)
        redis_url = os.environ.get("REDIS_URL")
        self.REDIS_URL = redis_url
        self.RATELIMIT_STORAGE_URI = redis_url or "memory://"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LOGIN_RATE_LIMIT = "10 per minute"
        self.FORGOT_PASSWORD_RATE_LIMIT = "5 per hour"

        # Cookies and CSRF.
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = production
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SECURE = production
        self.WTF_CSRF_ENABLED = True
        self.WTF_CSRF_TIME_LIMIT = 3600

        # Accounts.
        self.CAPTCHA_ENABLED = _env_flag("CAPTCHA_ENABLED", True)
        self.PASSWORD_RESET_MAX_AGE = 30 * 60  # seconds
        self.TOTP_ISSUER = "RegPortal"
        self.TOTP_RECOVERY_CODES = 10

        # Mail: SMTP when MAIL_SERVER is set, else the outbox.
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = _env_flag("MAIL_USE_TLS", False)
        self.MAIL_FROM = os.environ.get("MAIL_FROM", "noreply@regportal.local")

        # Attachments live outside the web root.
        self.ATTACHMENT_DIR = os.environ.get(
            "ATTACHMENT_DIR", os.path.join(INSTANCE_DIR, "attachments")
        )
        self.ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
        self.ATTACHMENT_ALLOWED_TYPES = {
            "application/pdf": "pdf",
            "image/png": "png",
            "image/jpeg": "jpg",
            "application/zip": "zip",
        }
        # .xlsx imports (app/services/xlsx_import.py, SPEC X12): the file size (checked before
        # anything is parsed), what it may unpack to (zip bombs), data rows per file, errors
        # listed in the report (all are counted); uploads wait for their job in IMPORT_DIR.
        self.IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", 10 * 1024 * 1024))
        self.IMPORT_MAX_UNPACKED_BYTES = int(os.environ.get("IMPORT_MAX_UNPACKED_BYTES",
                                                            100 * 1024 * 1024))
        self.IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "10000"))
        self.IMPORT_MAX_ERRORS = int(os.environ.get("IMPORT_MAX_ERRORS", "1000"))
        self.IMPORT_DIR = os.environ.get("IMPORT_DIR", os.path.join(INSTANCE_DIR, "imports"))
        # Room for multipart overhead above the attachment and import limits.
        self.MAX_CONTENT_LENGTH = max(self.ATTACHMENT_MAX_BYTES,
                                      self.IMPORT_MAX_BYTES) + 1024 * 1024

        # Background jobs (app/services/jobs.py): Huey on a SQLite file under instance/, or
        # on Redis when REDIS_URL is set; result files under JOB_DIR (outside the web root).
        self.HUEY_IMMEDIATE = _env_flag("HUEY_IMMEDIATE", False)
        self.HUEY_FILE = os.environ.get("HUEY_FILE", os.path.join(INSTANCE_DIR, "huey.db"))
        self.HUEY_WORKERS = int(os.environ.get("HUEY_WORKERS", "2"))
        self.JOB_DIR = os.environ.get("JOB_DIR", os.path.join(INSTANCE_DIR, "jobs"))
        self.JOB_RETENTION_DAYS = int(os.environ.get("JOB_RETENTION_DAYS", "7"))
        # A job still "running" this long after it started was interrupted (worker stopped).
        self.JOB_STALE_HOURS = int(os.environ.get("JOB_STALE_HOURS", "6"))
        # Jobs one user may have waiting or running at once (a flood of exports is refused).
        self.JOB_MAX_ACTIVE = int(os.environ.get("JOB_MAX_ACTIVE", "3"))
        self.EXPORT_SYNC_MAX_ROWS = int(os.environ.get("EXPORT_SYNC_MAX_ROWS", "5000"))

        self.LOAD_DEMO_DATA = _env_flag("LOAD_DEMO_DATA", not production)

        # Report windows per report kind (see REPORT_WINDOWS above); a copy, so an app's
        # overrides never change the module's defaults.
        self.REPORT_WINDOWS = {kind: dict(conf) for kind, conf in REPORT_WINDOWS.items()}

        # Power-facility licensing (seed 002, app/services/credit.py). The credit provider
        # asked on a new licence matter ("module:Class" with lookup(uscc, name)); the default
        # reads the credit register the authority maintains in the app. An enterprise with no
        # record in it has no adverse record: good credit unless this is false.
        self.CREDIT_PROVIDER = os.environ.get("CREDIT_PROVIDER",
                                              "app.services.credit:RegisterCreditProvider")
        self.CREDIT_UNKNOWN_IS_GOOD = _env_flag("CREDIT_UNKNOWN_IS_GOOD", True)
        # Free-trade-zone pilot areas (自贸区试点): region-code prefixes of the districts
        # whose enterprises get the FTZ route. Defaults: Guangdong's pilot areas 南沙
        # (440115), 前海 in 南山 (440305) and 横琴 in 香洲 (440402).
        self.POWER_FTZ_REGIONS = tuple(
            p.strip() for p in os.environ.get("POWER_FTZ_REGIONS",
                                              "440115,440305,440402").split(",") if p.strip())
        # Statutory stage limits per workflow kind, variant and state, overriding the
        # definitions: {"power_new:ftz:examining": 6}.
        self.WORKFLOW_STAGE_LIMITS = {}
