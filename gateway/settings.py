"""All configuration, read once from the environment (and an optional `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    var_dir: Path = Field(default=PROJECT_ROOT / "var", alias="VAR_DIR")
    database_url: str = Field(default="", alias="DATABASE_URL")

    gateway_host: str = Field(default="127.0.0.1", alias="GATEWAY_HOST")
    gateway_port: int = Field(default=8080, alias="GATEWAY_PORT")
    public_url: str = Field(default="", alias="PUBLIC_URL")

    rasa_url: str = Field(default="http://127.0.0.1:5005", alias="RASA_URL")
    rasa_timeout_s: float = Field(default=15.0, alias="RASA_TIMEOUT_S")
    # Bot turns in flight at once on push channels. Each is a chain of short steps on the
    # event loop that also acknowledges webhooks: the paced run of `make bench-channels`
    # (SQLite, three alternating pairs) measured ack p99 27-45 ms with 8 against 56-69 ms with
    # 32. Eight keep a Rasa server busy (it parses one message at a time per core); where turns
    # mostly wait (actions calling a slow shop), more in flight raise the turn rate.
    max_concurrent_turns: int = Field(default=8, ge=1, le=1024, alias="MAX_CONCURRENT_TURNS")
    rasa_model: Path = Field(
        default=PROJECT_ROOT / "var/models/switchboard.tar.gz", alias="RASA_MODEL"
    )

    # Custom actions are served by the gateway process on a loopback-only port.
    actions_host: str = Field(default="127.0.0.1", alias="ACTIONS_HOST")
    actions_port: int | None = Field(default=5055, alias="ACTIONS_PORT")
    actions_token: str = Field(default="", alias="ACTIONS_TOKEN")

    channels: Annotated[list[str], NoDecode] = Field(
        default=["webchat", "rest", "socketio"], alias="CHANNELS"
    )
    max_body_bytes: int = Field(default=64 * 1024, alias="MAX_BODY_BYTES")
    max_text_chars: int = Field(default=4000, alias="MAX_TEXT_CHARS")

    faq_seed_path: Path = Field(
        default=PROJECT_ROOT / "training_data/faq/seed.yml", alias="FAQ_SEED_PATH"
    )
    # Semantic retrieval (embeddings + FAISS); `lexical` is TF-IDF alone. Thresholds and
    # weights from `python -m knowledge calibrate --data training_data/faq/seed.yml` (held-out
    # phrasings, several seeds; the lexical retriever needs about 0.45 / 0.2 / 0.15).
    faq_retriever: str = Field(default="semantic", alias="FAQ_RETRIEVER")  # semantic | lexical
    faq_embedding_model: Path | None = Field(default=None, alias="FAQ_EMBEDDING_MODEL")
    faq_index_dir: Path | None = Field(default=None, alias="FAQ_INDEX_DIR")
    faq_answer_threshold: float = Field(default=0.445, alias="FAQ_ANSWER_THRESHOLD")
    faq_clarify_threshold: float = Field(default=0.259, alias="FAQ_CLARIFY_THRESHOLD")
    faq_clarify_margin: float = Field(default=0.08, alias="FAQ_CLARIFY_MARGIN")
    faq_weight_best: float = Field(default=0.0, alias="FAQ_WEIGHT_BEST")
    faq_weight_prototype: float = Field(default=0.45, alias="FAQ_WEIGHT_PROTOTYPE")
    faq_weight_lexical: float = Field(default=0.0, alias="FAQ_WEIGHT_LEXICAL")
    faq_weight_classifier: float = Field(default=0.55, alias="FAQ_WEIGHT_CLASSIFIER")
    faq_classifier_terms: float = Field(default=0.0, alias="FAQ_CLASSIFIER_TERMS")

    # FAQ content tools. The content lives in the database, imported once from FAQ_SEED_PATH
    # into an empty one; a gateway polls for content published by another process (the CLI,
    # another replica). Lint and the grouping of unanswered questions are tuned here.
    faq_content_poll_s: float = Field(default=5.0, alias="FAQ_CONTENT_POLL_S")
    faq_lint_promise_words: Annotated[list[str], NoDecode] = Field(
        default=["guarantee", "guaranteed", "definitely", "absolutely", "always", "never"],
        alias="FAQ_LINT_PROMISE_WORDS",
    )
    faq_lint_max_answer_chars: int = Field(default=800, alias="FAQ_LINT_MAX_ANSWER_CHARS")
    faq_lint_duplicate_threshold: float = Field(default=0.9, alias="FAQ_LINT_DUPLICATE_THRESHOLD")
    # How far another entry must lead a held-out phrasing's own entry to be reported.
    faq_lint_confusion_margin: float = Field(default=0.1, alias="FAQ_LINT_CONFUSION_MARGIN")
    # Largest FAQ file the admin page imports (the CLI reads files up to 20 MiB).
    faq_import_max_bytes: int = Field(default=2 * 1024 * 1024, alias="FAQ_IMPORT_MAX_BYTES")
    faq_unanswered_group_threshold: float | None = Field(
        default=None, alias="FAQ_UNANSWERED_GROUP_THRESHOLD"
    )

    # Staff accounts: login sessions for agents, supervisors and content staff.
    staff_session_hours: float = Field(default=12.0, alias="STAFF_SESSION_HOURS")
    # On an install without staff users, `admin` is created with a random password in this file.
    staff_first_admin_file: Path | None = Field(default=None, alias="STAFF_FIRST_ADMIN_FILE")
    # Messenger channels: credentials, and each provider's base URL (tests point it at a fake).
    telegram_token: str = Field(default="", alias="TELEGRAM_TOKEN")
    telegram_secret_token: str = Field(default="", alias="TELEGRAM_SECRET_TOKEN")
    telegram_mode: str = Field(default="webhook", alias="TELEGRAM_MODE")  # webhook | polling
    telegram_base_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_BASE_URL")
    telegram_poll_timeout_s: int = Field(default=30, alias="TELEGRAM_POLL_TIMEOUT_S")
    meta_app_secret: str = Field(default="", alias="META_APP_SECRET")
    meta_verify_token: str = Field(default="", alias="META_VERIFY_TOKEN")
    meta_graph_url: str = Field(default="https://graph.facebook.com/v21.0", alias="META_GRAPH_URL")
    whatsapp_token: str = Field(default="", alias="WHATSAPP_TOKEN")
    whatsapp_phone_number_id: str = Field(default="", alias="WHATSAPP_PHONE_NUMBER_ID")
    messenger_page_token: str = Field(default="", alias="MESSENGER_PAGE_TOKEN")
    twilio_account_sid: str = Field(default="", alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field(default="", alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str = Field(default="", alias="TWILIO_FROM_NUMBER")
    twilio_base_url: str = Field(default="https://api.twilio.com", alias="TWILIO_BASE_URL")
    sms_help_text: str = Field(
        default="Reply with your question and we will answer here. Reply STOP to opt out.",
        alias="SMS_HELP_TEXT",
    )
    # Sending limits per channel (messages per second overall, and per recipient).
    channel_rate_per_s: float = Field(default=30.0, alias="CHANNEL_RATE_PER_S")
    channel_rate_per_chat_per_s: float = Field(default=1.0, alias="CHANNEL_RATE_PER_CHAT_PER_S")
    channel_max_attachment_bytes: int = Field(
        default=20 * 1024 * 1024, alias="CHANNEL_MAX_ATTACHMENT_BYTES"
    )
    # One customer across channels: which verified contacts link identities (phone, email).
    customer_link_by: Annotated[list[str], NoDecode] = Field(
        default=["phone", "email"], alias="CUSTOMER_LINK_BY"
    )
    # Email channel: IMAP mailbox intake, a direct SMTP listener, replies through an SMTP relay.
    email_from: str = Field(default="", alias="EMAIL_FROM")
    email_from_name: str = Field(default="", alias="EMAIL_FROM_NAME")
    email_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default=[], alias="EMAIL_ALLOWED_DOMAINS"
    )
    email_max_bytes: int = Field(default=10 * 1024 * 1024, alias="EMAIL_MAX_BYTES")
    email_listen_host: str = Field(default="127.0.0.1", alias="EMAIL_LISTEN_HOST")
    email_listen_port: int | None = Field(default=None, alias="EMAIL_LISTEN_PORT")
    email_imap_host: str = Field(default="", alias="EMAIL_IMAP_HOST")
    email_imap_port: int = Field(default=993, alias="EMAIL_IMAP_PORT")
    email_imap_user: str = Field(default="", alias="EMAIL_IMAP_USER")
    email_imap_password: str = Field(default="", alias="EMAIL_IMAP_PASSWORD")
    email_imap_folder: str = Field(default="INBOX", alias="EMAIL_IMAP_FOLDER")
    email_imap_tls: str = Field(default="ssl", alias="EMAIL_IMAP_TLS")  # ssl | none
    email_imap_idle: bool = Field(default=True, alias="EMAIL_IMAP_IDLE")
    email_imap_poll_s: float = Field(default=30.0, alias="EMAIL_IMAP_POLL_S")
    email_smtp_host: str = Field(default="", alias="EMAIL_SMTP_HOST")
    email_smtp_port: int = Field(default=587, alias="EMAIL_SMTP_PORT")
    email_smtp_user: str = Field(default="", alias="EMAIL_SMTP_USER")
    email_smtp_password: str = Field(default="", alias="EMAIL_SMTP_PASSWORD")
    email_smtp_tls: str = Field(default="starttls", alias="EMAIL_SMTP_TLS")  # starttls|ssl|none
    email_smtp_timeout_s: float = Field(default=30.0, alias="EMAIL_SMTP_TIMEOUT_S")

    @field_validator("email_allowed_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [d.strip().lower() for d in value.split(",") if d.strip()]
        return value

    # Orders and refunds (commerce/): the shop backend and the refund rules.
    shop_backend: str = Field(default="embedded", alias="SHOP_BACKEND")  # embedded | http
    shop_api_url: str = Field(default="", alias="SHOP_API_URL")
    shop_api_token: str = Field(default="", alias="SHOP_API_TOKEN")
    shop_sample_data: bool = Field(default=True, alias="SHOP_SAMPLE_DATA")
    refund_window_days: int = Field(default=30, alias="REFUND_WINDOW_DAYS")
    refund_non_refundable_categories: Annotated[list[str], NoDecode] = Field(
        default=["gift-cards", "personalised"], alias="REFUND_NON_REFUNDABLE_CATEGORIES"
    )
    refund_auto_approve_cents: int = Field(default=10000, alias="REFUND_AUTO_APPROVE_CENTS")

    # Human handoff: triggers, routing, what waiting customers are told, service level.
    handoff_sensitive_words: Annotated[list[str], NoDecode] = Field(
        default=[
            "lawyer", "solicitor", "lawsuit", "sue you", "legal action", "court",
            "suicide", "kill myself", "self-harm", "hurt myself", "harass", "threaten",
        ],
        alias="HANDOFF_SENSITIVE_WORDS",
    )  # fmt: skip
    handoff_complaint_words: Annotated[list[str], NoDecode] = Field(
        default=["complaint", "complain", "unacceptable", "disgraceful"],
        alias="HANDOFF_COMPLAINT_WORDS",
    )
    handoff_negative_sentiment: float = Field(default=-0.75, alias="HANDOFF_NEGATIVE_SENTIMENT")
    handoff_auto_assign: bool = Field(default=True, alias="HANDOFF_AUTO_ASSIGN")
    handoff_interval_s: float = Field(default=1.0, alias="HANDOFF_INTERVAL_S")
    # Tell waiting customers their place in the queue and the estimated wait (and updates).
    handoff_tell_place: bool = Field(default=True, alias="HANDOFF_TELL_PLACE")
    handoff_update_every_s: float = Field(default=60.0, alias="HANDOFF_UPDATE_EVERY_S")
    handoff_abandon_after_s: float = Field(default=900.0, alias="HANDOFF_ABANDON_AFTER_S")
    handoff_default_handle_s: float = Field(default=300.0, alias="HANDOFF_DEFAULT_HANDLE_S")
    handoff_hours: str = Field(default="always", alias="HANDOFF_HOURS")
    handoff_timezone: str = Field(default="UTC", alias="HANDOFF_TIMEZONE")
    handoff_service_level_s: float = Field(default=20.0, alias="HANDOFF_SERVICE_LEVEL_S")
    # Console websockets re-read on change notifications; this is the safety-net period.
    handoff_live_refresh_s: float = Field(default=15.0, alias="HANDOFF_LIVE_REFRESH_S", gt=0)

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_format: str = Field(default="auto", alias="LOG_FORMAT")  # auto | json | console

    @field_validator(
        "channels",
        "refund_non_refundable_categories",
        "faq_lint_promise_words",
        "handoff_sensitive_words",
        "handoff_complaint_words",
        "customer_link_by",
        mode="before",
    )
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("customer_link_by")
    @classmethod
    def _known_contact_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"phone", "email"})
        if unknown:
            raise ValueError(f"CUSTOMER_LINK_BY takes phone and email, not {', '.join(unknown)}")
        return value

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or the embedded default: one SQLite file under `var/`."""
        return self.database_url or f"sqlite:///{self.var_dir / 'switchboard.db'}"

    @property
    def resolved_database_url(self) -> str:
        """The same database as a SQLAlchemy async URL (aiosqlite or asyncpg)."""
        url = self.effective_database_url
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        return url

    @property
    def resolved_faq_embedding_model(self) -> Path | None:
        """FAQ_EMBEDDING_MODEL, else the model `python -m knowledge.finetune` wrote under
        `var/knowledge/embedder` when there is one, else None (the packaged MiniLM)."""
        if self.faq_embedding_model:
            return self.faq_embedding_model
        tuned = self.var_dir / "knowledge" / "embedder"
        return tuned if (tuned / "config_sentence_transformers.json").is_file() else None

    @property
    def embedding_runtime_dir(self) -> Path:
        """Where the embedding model's exported ONNX graph is kept (derived data)."""
        return self.var_dir / "knowledge" / "runtime"

    @property
    def resolved_faq_index_dir(self) -> Path:
        return self.faq_index_dir or self.var_dir / "knowledge" / "faq-index"

    @property
    def resolved_first_admin_file(self) -> Path:
        return self.staff_first_admin_file or self.var_dir / "first-admin-password.txt"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.gateway_host}:{self.gateway_port}"
