"""`python -m gateway serve|up`: run the gateway alone, or Rasa and the gateway together."""

from __future__ import annotations

import argparse
import secrets
import sys

import structlog
from aiohttp import web
from yarl import URL

from .app import create_app
from .logs import configure_logging
from .rasa_process import RasaProcess
from .settings import Settings

log = structlog.get_logger(__name__)


def serve(settings: Settings, banner: str | None = None) -> None:
    web.run_app(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        access_log=None,
        print=(lambda _: print(banner, flush=True)) if banner else None,
    )


def up(settings: Settings) -> None:
    """Start Rasa from its own environment, then the gateway; Ctrl-C stops both."""
    if not settings.actions_token:
        settings = settings.model_copy(update={"actions_token": secrets.token_urlsafe(24)})
    rasa_url = URL(settings.rasa_url)
    rasa = RasaProcess(
        model=settings.rasa_model,
        host=rasa_url.host or "127.0.0.1",
        port=rasa_url.port or 5005,
        actions_url=f"http://{settings.actions_host}:{settings.actions_port}/webhook",
        actions_token=settings.actions_token,
        log_path=settings.var_dir / "log/rasa.log",
    )
    print(f"Starting Rasa on {rasa.url} (log: {rasa.log_path}) …", flush=True)
    try:
        rasa.start()
        serve(
            settings,
            banner=(
                f"\nSwitchboard is running.\n"
                f"  Web chat:  {settings.base_url}/\n"
                f"  Staff:     {settings.base_url}/staff (first login: "
                f"{settings.resolved_first_admin_file})\n"
                f"  Health:    {settings.base_url}/healthz\n"
                f"  REST:      {settings.base_url}/webhooks/rest/webhook\n"
                f"  Rasa:      {rasa.url}\n"
                f"  Database:  {settings.effective_database_url}\n"
                f"Press Ctrl-C to stop.\n"
            ),
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C while Rasa was still starting
    finally:
        rasa.stop()
        print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    parser.add_argument("command", choices=["serve", "up"])
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    {"serve": serve, "up": up}[args.command](settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
