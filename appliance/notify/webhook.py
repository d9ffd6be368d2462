"""Webhooks: a generic JSON document, or a Telegram-compatible sendMessage payload."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from appliance.config_core import WebhookConfig
from appliance.notify.message import Message

TELEGRAM_MAX = 4000


def payload(hook: WebhookConfig, msg: Message) -> dict[str, Any]:
    """The JSON body for ``hook``. Telegram gets plain text (no parse_mode: nothing in it
    is interpreted, so attacker-controlled names cannot inject markup)."""
    if hook.kind == "telegram":
        return {
            "chat_id": hook.chat_id,
            "text": msg.text()[:TELEGRAM_MAX],
            "disable_web_page_preview": True,
        }
    return {
        "source": "spanwatch",
        "kind": msg.kind,
        "severity": msg.severity,
        "subject": {"vi": msg.subject_vi, "en": msg.subject_en},
        "count": len(msg.items),
        "items": msg.items,
    }


def send_webhook(hook: WebhookConfig, msg: Message) -> None:
    """POST the payload; raise OSError (urllib's errors are OSErrors) on failure."""
    from appliance.notify.email import NotifyError

    body = json.dumps(payload(hook, msg), ensure_ascii=False).encode()
    req = urllib.request.Request(
        hook.url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8",
                 "User-Agent": "spanwatch"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=hook.timeout_seconds) as resp:
            resp.read(65536)
    except (urllib.error.URLError, OSError) as err:
        # Only the host: a Telegram URL carries the bot token in its path.
        host = urllib.parse.urlsplit(hook.url).netloc
        raise NotifyError(f"Webhook to {host} failed: {err}") from err
