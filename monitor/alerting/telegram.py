"""Telegram through its Bot API, for tgram:// URLs: HTML messages split at 4,096 characters, 429 honoured.

Apprise's Telegram plugin only returns True or False, so it can neither tell us Telegram's
``retry_after`` nor which part of a long message got through. This small client does both; every
other scheme still goes through apprise. A URL names a bot and chats, as apprise writes it:
``tgram://BOT_TOKEN/CHAT_ID[/CHAT_ID...]``; the token is a secret and appears in no message of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from monitor.alerting.exceptions import RateLimitedError
from monitor.alerting.notification import Notification
from monitor.alerting.render import Renderer
from monitor.errors import ConfigError, DeliveryError

__all__ = ["TELEGRAM_LIMIT", "TelegramChannel", "TelegramTarget", "parse_tgram", "split_html"]

#: Characters of one Telegram message, after entity parsing, counted in UTF-16 code units.
TELEGRAM_LIMIT = 4096
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_CHAT = re.compile(r"^(-?\d+|@[A-Za-z0-9_]{4,})$")
_PIECE = re.compile(r"<[^>]*>|&#?\w+;|\n|[^<&\n]+")
_TAG = re.compile(r"^<\s*(/?)\s*([A-Za-z][\w-]*)")
_TRUNCATED = "\n… (truncated)"


@dataclass(frozen=True)
class TelegramTarget:
    """One chat of one bot."""

    token: str
    chat_id: str


def parse_tgram(url: str, where: str) -> list[TelegramTarget]:
    """Return one target per chat of a ``tgram://TOKEN/CHAT[/CHAT...]`` URL.

    Raises:
        ConfigError: naming ``where`` and what is wrong, never the token.
    """
    rest = url.strip()[len("tgram://") :].split("?", 1)[0].split("#", 1)[0]
    parts = [p for p in rest.split("/") if p]
    if not parts or not _TOKEN.match(parts[0]):
        raise ConfigError(f"{where}: a tgram:// URL starts with the bot token (123456:ABC-def...)")
    chats = parts[1:]
    if not chats:
        raise ConfigError(f"{where}: a tgram:// URL needs at least one chat id after the token")
    for chat in chats:
        if not _CHAT.match(chat):
            raise ConfigError(f"{where}: chat {chat!r} is not a chat id (-100123..., 12345) or @channel")
    return [TelegramTarget(parts[0], chat) for chat in chats]


class TelegramChannel:
    """Send notifications to one Telegram chat, in as many parts as the length limit needs."""

    flavour = "telegram"

    def __init__(
        self,
        name: str,
        receiver: str,
        target: TelegramTarget,
        renderer: Renderer,
        *,
        api_url: str = "https://api.telegram.org",
        max_messages: int = 3,
        timeout_s: float = 15.0,
    ) -> None:
        self.name = name
        self.receiver = receiver
        self._target = target
        self._renderer = renderer
        self._url = f"{api_url.rstrip('/')}/bot{target.token}/sendMessage"
        self._max_messages = max_messages
        self._client = httpx.Client(timeout=timeout_s)
        # Parts already accepted, per outbox message: a retry goes on from the first part not sent.
        self._sent_parts: dict[int, int] = {}

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def send(self, note: Notification) -> None:
        """Post every part of ``note``; raise ``RateLimitedError`` on 429, ``DeliveryError`` otherwise."""
        parts = split_html(self._renderer.telegram_html(note), TELEGRAM_LIMIT, self._max_messages)
        key = note.message_id if note.message_id is not None else -1
        for i in range(self._sent_parts.get(key, 0), len(parts)):
            self._post(parts[i])
            self._sent_parts[key] = i + 1
        self._sent_parts.pop(key, None)

    def _post(self, text: str) -> None:
        payload = {
            "chat_id": self._target.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        try:
            response = self._client.post(self._url, json=payload)
        except httpx.HTTPError as e:  # str(e) may hold the URL, hence the token: name the error only
            raise DeliveryError(f"telegram: {type(e).__name__}") from e
        try:
            body = response.json()
        except ValueError:
            body = {}
        description = str(body.get("description", "")) if isinstance(body, dict) else ""
        # The server's words go into logs, the outbox and the dead-letter topic: a proxy or a self-hosted
        # Bot API server may quote the request path, and the path holds the token.
        description = description.replace(self._target.token, "***")
        if ":" in self._target.token:
            description = description.replace(self._target.token.split(":", 1)[1], "***")
        if response.status_code == 429:
            parameters = body.get("parameters", {}) if isinstance(body, dict) else {}
            retry_after = float(parameters.get("retry_after", 1)) if isinstance(parameters, dict) else 1.0
            raise RateLimitedError(f"telegram: 429 {description}".strip(), retry_after)
        if response.status_code != 200 or not (isinstance(body, dict) and body.get("ok")):
            raise DeliveryError(f"telegram: HTTP {response.status_code} {description}".strip())


def split_html(html: str, limit: int = TELEGRAM_LIMIT, max_parts: int = 3) -> list[str]:
    """Return ``html`` cut into parts of at most ``limit`` UTF-16 units, each well-formed on its own.

    Cuts fall between lines when one is near, else between words; a tag open at a cut is closed at the
    end of the part and opened again at the start of the next. Past ``max_parts`` the last part ends
    with "… (truncated)".
    """
    parts = _split(html, limit)
    if len(parts) <= max_parts:
        return parts
    last = _split(parts[max_parts - 1], limit - _units(_TRUNCATED))[0]
    return [*parts[: max_parts - 1], last + _TRUNCATED]


def _split(html: str, limit: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag) of the tags open at the end of current
    size = 0
    for piece in _pieces(html, limit):
        tag = _TAG.match(piece)
        after = list(stack)
        if tag:
            _apply(after, tag, piece)
        if current and size + _units(piece) + _closing(after) > limit:
            cut = _last_line_break(current) or len(current)
            kept, carry = current[:cut], current[cut:]
            reopen = _stack_after(kept)
            parts.append(_close("".join(kept), reopen))
            current = [opening for _, opening in reopen] + carry
            stack = _stack_after(current)
            size = sum(_units(p) for p in current)
            after = list(stack)
            if tag:
                _apply(after, tag, piece)
        current.append(piece)
        size += _units(piece)
        stack = after
    if current:
        parts.append(_close("".join(current), stack))
    return [p for p in (part.strip("\n") for part in parts) if p]


def _closing(stack: list[tuple[str, str]]) -> int:
    return sum(_units(f"</{name}>") for name, _ in stack)


def _pieces(html: str, limit: int) -> list[str]:
    """Return tags, entities, newlines and words, none longer than a quarter of ``limit``."""
    pieces: list[str] = []
    for m in _PIECE.finditer(html):
        piece = m.group(0)
        if piece.startswith(("<", "&")) or piece == "\n":
            pieces.append(piece)
            continue
        for word in re.findall(r"\S+\s*|\s+", piece):
            step = max(limit // 4, 1)
            pieces += [word[i : i + step] for i in range(0, len(word), step)]
    return pieces


def _apply(stack: list[tuple[str, str]], tag: re.Match[str], piece: str) -> None:
    name = tag.group(2).lower()
    if tag.group(1):
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i:]
                break
    elif not piece.endswith("/>"):
        stack.append((name, piece))


def _stack_after(pieces: list[str]) -> list[tuple[str, str]]:
    stack: list[tuple[str, str]] = []
    for piece in pieces:
        tag = _TAG.match(piece)
        if tag:
            _apply(stack, tag, piece)
    return stack


def _last_line_break(pieces: list[str]) -> int:
    """Return the index after the last newline outside any tag in the second half of ``pieces``, or 0."""
    stack: list[tuple[str, str]] = []
    best = 0
    for i, piece in enumerate(pieces):
        tag = _TAG.match(piece)
        if tag:
            _apply(stack, tag, piece)
        elif piece == "\n" and not stack and i + 1 >= len(pieces) // 2:
            best = i + 1
    return best


def _close(text: str, stack: list[tuple[str, str]]) -> str:
    return text + "".join(f"</{name}>" for name, _ in reversed(stack))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
