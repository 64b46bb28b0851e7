"""A local stand-in for Microsoft's side of a Teams bot, answering the way Microsoft does.

One HTTP server on 127.0.0.1 (a free port, a daemon thread) plays three services:

- the Bot Framework's OpenID metadata and signing keys, with tokens it signs like the Bot
  Connector does for each activity it sends a bot (`sign`), and keys it can roll (`roll_keys`);
- the Microsoft Entra token endpoint (`/{tenant}/oauth2/v2.0/token`, client credentials),
  refusing a wrong secret with Entra's error body;
- the Bot Connector API v3 (conversations and activities) with Teams-shaped ids, that wants
  the token the endpoint issued, refuses what Teams refuses (`{"error": {"code", "message"}}`)
  and, on demand, answers 429 with `Retry-After`, 5xx, or drops a connection after taking
  the message (the answer lost, the message posted);
- the part of Microsoft Graph that lists what the connector took (`/graph/v1.0/...`: a
  channel's posts, a post's replies, a chat's messages), newest first, in pages, as
  chatMessages with the card as a JSON string, for a token issued to the customer's tenant.

Tests point the real clients at `url`, so what runs is the same HTTP that runs in production.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.demo import local_http

APP_ID = "8f4f4b6e-2f6a-4f1e-9a57-3b1d7c0e5a21"
APP_PASSWORD = "s3cr3t~value"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TEAM_ID = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b"
BOT_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ISSUER = "https://api.botframework.com"
MESSAGE_LIMIT = 28 * 1024  # Teams refuses a message over about 28 KB: 413 MessageSizeTooBig
TOKEN_LIFETIME = 3599

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Call:
    """One request as the server saw it: the operation, the JSON or form body, the answer."""

    op: str
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    query: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Plan:
    status: int
    code: str = ""
    message: str = ""
    retry_after: str | None = None
    drop: bool = False  # close the connection without an answer
    accept: bool = False  # ...after doing what was asked
    remaining: int = 1


@dataclass
class Activity:
    """An activity as the connector keeps it: the id it gave, what was sent, and by whom
    (the app, or a person's Entra id)."""

    id: str
    conversation: str
    body: dict[str, Any]
    updates: int = 0
    sender: str = ""
    changed: datetime | None = None

    @property
    def created(self) -> datetime:
        """Teams' message ids are the milliseconds since the epoch when it took the message."""
        return datetime.fromtimestamp(int(self.id) / 1000, UTC)


class FakeTeams(local_http.LocalServer):
    """Bot Framework keys, Entra tokens and the Bot Connector, as one local server."""

    def __init__(self, *, app_id: str = APP_ID, password: str = APP_PASSWORD) -> None:
        self.app_id = app_id
        self.password = password
        self.calls: list[Call] = []
        self.conversations: dict[str, list[Activity]] = {}
        self.tokens: dict[str, tuple[float, str, str]] = {}  # token -> (expires, scope, tenant)
        self.team_id = TEAM_ID
        self.chats: dict[str, str] = {}  # Graph's chat id -> the connector's conversation id
        self.accounts: dict[str, str] = {}  # a person's account id (29:…) -> their Entra id
        self.rosters: dict[str, list[dict[str, Any]]] = {}  # conversation -> its members
        self.channels: dict[str, list[dict[str, Any]]] = {}  # team (19:…) -> its channels
        self.keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.endorsements = ["msteams"]
        self._plans: dict[str, list[_Plan]] = {}
        self._lock = threading.RLock()
        self._last_id = int(time.time() * 1000)
        self.roll_keys()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def service_url(self) -> str:
        """The connector's address, as activities carry it in `serviceUrl`."""
        return f"{self.url}/teams/"

    # keys and tokens ---------------------------------------------------------------------

    def roll_keys(self) -> str:
        """Publish a new signing key beside the current one (as the Bot Framework rolls them);
        returns its kid."""
        kid = secrets.token_urlsafe(20)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self._lock:
            self.keys = [(kid, key), *self.keys[:1]]
        return kid

    def sign(
        self,
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        lifetime: float = 3600,
        **claims: Any,
    ) -> str:
        """A token like the one the Bot Connector sends with an activity, signed by the
        current key unless `key`/`kid` say otherwise; `claims` replace or add claims."""
        now = int(time.time())
        payload = {
            "serviceurl": self.service_url,
            "nbf": now - 5,
            "exp": now + int(lifetime),
            "iss": ISSUER,
            "aud": self.app_id,
            **claims,
        }
        current_kid, current_key = self.keys[0]
        return jwt.encode(
            {k: v for k, v in payload.items() if v is not None},
            key or current_key,
            algorithm="RS256",
            headers={"kid": kid or current_kid},
        )

    def _jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig", endorsements=list(self.endorsements))
            keys.append(jwk)
        return {"keys": keys}

    # failures on demand ----------------------------------------------------------------

    def throttle(self, op: str, *, retry_after: str = "2", times: int = 1) -> None:
        """The next `times` calls of `op` answer 429 Throttled with `Retry-After`."""
        self._plan(op, _Plan(429, "Throttled", "Too many requests.", retry_after, remaining=times))

    def fail(self, op: str, status: int, code: str, message: str = "", *, times: int = 1) -> None:
        """The next `times` calls of `op` answer `status` with Teams' error body."""
        self._plan(op, _Plan(status, code, message or code, remaining=times))

    def drop(self, op: str, *, accept: bool = True, times: int = 1) -> None:
        """The next calls of `op` get no answer, the connection closed; with `accept`, what
        was asked is done first (the message is in Teams, its id never reached Baton)."""
        self._plan(op, _Plan(0, drop=True, accept=accept, remaining=times))

    def _plan(self, op: str, plan: _Plan) -> None:
        with self._lock:
            self._plans.setdefault(op, []).append(plan)

    def _take(self, op: str) -> _Plan | None:
        with self._lock:
            return local_http.next_plan(self._plans.get(op) or [])

    def calls_to(self, op: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.op == op]

    def activities(self, conversation: str) -> list[Activity]:
        with self._lock:
            return list(self.conversations.get(conversation, []))

    def say(self, conversation: str, text: str, *, user: str = "ef1c916a-3135-4417") -> str:
        """A person's message in a conversation (a thread: `{channel};messageid={root}`)."""
        activity = Activity(
            self._next_id(), conversation, {"type": "message", "text": text}, sender=user
        )
        with self._lock:
            self.conversations.setdefault(conversation.split(";messageid=")[0], []).append(activity)
        return activity.id

    def install_personal(self, aad_object_id: str, account_id: str) -> str:
        """A person installs the app for themselves: Teams makes the 1:1 (the id the connector
        knows it by, which the installation activity carries) and Graph knows that chat as
        `19:{their Entra id}_{app id}@unq.gbl.spaces`. Opening it again gives the same one.
        Its roster is the person."""
        conversation = "a:1" + account_id.replace(":", "")[-24:] + "x" + self.app_id[:8]
        with self._lock:
            self.conversations.setdefault(conversation, [])
            self.rosters.setdefault(
                conversation, [{"id": account_id, "aadObjectId": aad_object_id}]
            )
            self.accounts[account_id] = aad_object_id
            self.chats[f"19:{aad_object_id}_{self.app_id}@unq.gbl.spaces"] = conversation
        return conversation

    def graph_chat_id(self, conversation: str) -> str:
        """Graph's id of a 1:1 the connector opened (`19:{user}_{app}@unq.gbl.spaces`)."""
        return next(chat for chat, known in self.chats.items() if known == conversation)

    # HTTP ------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return local_http.handler(self._serve, methods=("GET", "POST", "PUT"), protocol="HTTP/1.1")

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = request.rfile.read(int(headers.get("content-length") or 0))
        body: Any = None
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body = dict(parse_qsl(raw.decode()))
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        op, route = self._route(request.command, split.path)
        call = Call(op, request.command, split.path, body, headers)
        call.query = dict(parse_qsl(split.query))
        plan = self._take(op)
        if plan is not None and plan.drop:
            if plan.accept:
                route(call, raw)
            call.status = 0
            self._record(call)
            request.close_connection = True
            return
        if plan is not None:
            status, answer, extra = plan.status, _error(plan.code, plan.message), {}
            if plan.retry_after is not None:
                extra["Retry-After"] = plan.retry_after
        else:
            status, answer, extra = route(call, raw)
        call.status, call.response = status, answer
        self._record(call)
        local_http.send_json(request, status, json.dumps(answer).encode(), extra)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _route(self, method: str, path: str) -> tuple[str, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and path == "/v1/.well-known/openidconfiguration":
            return "openid", self._openid
        if method == "GET" and path == "/v1/.well-known/keys":
            return "keys", lambda call, raw: (200, self._jwks(), {})
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return "token", self._token
        if parts[:2] == ["teams", "v3"] and len(parts) >= 3 and parts[2] == "conversations":
            rest = parts[3:]
            if method == "POST" and not rest:
                return "create_conversation", self._create_conversation
            if method == "POST" and len(rest) == 2 and rest[1] == "activities":
                return "send", lambda call, raw: self._send(call, raw, rest[0])
            if method == "GET" and len(rest) == 2 and rest[1] == "pagedMembers":
                return "members", lambda call, raw: self._members(call, rest[0])
            if method == "PUT" and len(rest) == 3 and rest[1] == "activities":
                return "update", lambda call, raw: self._update(call, raw, rest[0], rest[2])
        if (
            method == "GET"
            and parts[:3] == ["teams", "v3", "teams"]
            and parts[4:] == ["conversations"]
        ):
            return "channels", lambda call, raw: self._channels(call, parts[3])
        if method == "GET" and parts[:2] == ["graph", "v1.0"]:
            return "graph", lambda call, raw: self._graph(call, parts[2:])
        return "unknown", lambda call, raw: (404, _error("NotFound", "Not found."), {})

    def _openid(self, call: Call, raw: bytes) -> Answer:
        return (
            200,
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            },
            {},
        )

    def _token(self, call: Call, raw: bytes) -> Answer:
        form = call.body if isinstance(call.body, dict) else {}
        if form.get("grant_type") != "client_credentials":
            return (
                400,
                _entra(
                    "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
                ),
                {},
            )
        if form.get("client_id") != self.app_id:
            return (
                400,
                _entra(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier "
                    f"'{form.get('client_id')}' was not found in the directory.",
                ),
                {},
            )
        if form.get("client_secret") != self.password:
            return (
                401,
                _entra(
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. "
                    "Ensure the secret being sent in the request is the client "
                    "secret value, not the client secret ID.",
                ),
                {},
            )
        scope = form.get("scope", "")
        if scope not in (BOT_SCOPE, GRAPH_SCOPE):
            return (
                400,
                _entra(
                    "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid."
                ),
                {},
            )
        tenant = call.path.strip("/").split("/")[0]
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[token] = (time.monotonic() + TOKEN_LIFETIME, scope, tenant)
        body = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }
        return 200, body, {}

    def _authorized(self, call: Call, scope: str = BOT_SCOPE) -> bool:
        """A live token for `scope`; Graph's also for the customer's tenant, whose data it is."""
        scheme, _, token = call.headers.get("authorization", "").partition(" ")
        with self._lock:
            issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or issued[0] <= time.monotonic():
            return False
        return issued[1] == scope and (scope == BOT_SCOPE or issued[2] == TENANT_ID)

    def _members(self, call: Call, conversation: str) -> Answer:
        """`pagedMembers`: the conversation's roster (for a channel, its team's), a page at a
        time, each member with the `email` and `userPrincipalName` only the roster gives."""
        if not self._authorized(call):
            return 401, {"message": "Authorization has been denied for this request."}, {}
        with self._lock:
            members = self.rosters.get(conversation.split(";")[0])
        if members is None:
            return 404, _error("ConversationNotFound", "Conversation not found."), {}
        size = int(call.query.get("pageSize") or 100)
        start = int(call.query.get("continuationToken") or 0)
        page: dict[str, Any] = {"members": members[start : start + size]}
        if start + size < len(members):
            page["continuationToken"] = str(start + size)
        return 200, page, {}

    def _channels(self, call: Call, team: str) -> Answer:
        """A team's channels, as `GET /v3/teams/{id}/conversations` lists them."""
        if not self._authorized(call):
            return 401, {"message": "Authorization has been denied for this request."}, {}
        with self._lock:
            channels = self.channels.get(team)
        if channels is None:
            return 404, _error("NotFound", "Team not found."), {}
        return 200, {"conversations": channels}, {}

    def _next_id(self) -> str:
        """Teams' message ids are the milliseconds since the epoch when it took the message."""
        with self._lock:
            self._last_id = max(self._last_id + 1, int(time.time() * 1000))
            return str(self._last_id)

    def _create_conversation(self, call: Call, raw: bytes) -> Answer:
        if not self._authorized(call):
            return 401, {"message": "Authorization has been denied for this request."}, {}
        body = call.body if isinstance(call.body, dict) else {}
        members = body.get("members") or []
        tenant = (body.get("channelData") or {}).get("tenant", {}).get("id") or body.get("tenantId")
        if body.get("isGroup") or len(members) != 1 or not members[0].get("id"):
            return 400, _error("BadArgument", "Only 1:1 conversations are supported."), {}
        if not tenant:
            return 400, _error("BadArgument", "Tenant ID is required."), {}
        member = members[0]["id"]
        conversation = "a:1" + member.replace(":", "")[-24:] + "x" + self.app_id[:8]
        with self._lock:
            person = self.accounts.get(member, member.split(":")[-1][:36])
            self.conversations.setdefault(conversation, [])
            self.chats[f"19:{person}_{self.app_id}@unq.gbl.spaces"] = conversation
        return 201, {"id": conversation}, {}

    def _send(self, call: Call, raw: bytes, conversation: str) -> Answer:
        if not self._authorized(call):
            return 401, {"message": "Authorization has been denied for this request."}, {}
        root = conversation.split(";messageid=")[0]
        with self._lock:
            known = root in self.conversations or root.endswith("@thread.tacv2")
        if not known:
            return 404, _error("ConversationNotFound", "Conversation not found."), {}
        if len(raw) > MESSAGE_LIMIT:
            return 413, _error("MessageSizeTooBig", "Message size too large."), {}
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("type") != "message":
            return 400, _error("BadArgument", "Activity type is required."), {}
        if ";messageid=" in conversation:
            thread = conversation.split(";messageid=")[1]
            if not any(a.id == thread for a in self.conversations.get(root, [])):
                return 404, _error("ActivityNotFoundInConversation", "Conversation not found."), {}
        activity = Activity(self._next_id(), conversation, body, sender=self.app_id)
        with self._lock:
            self.conversations.setdefault(root, []).append(activity)
        return 201, {"id": activity.id}, {}

    def _update(self, call: Call, raw: bytes, conversation: str, activity_id: str) -> Answer:
        if not self._authorized(call):
            return 401, {"message": "Authorization has been denied for this request."}, {}
        root = conversation.split(";messageid=")[0]
        with self._lock:
            found = next((a for a in self.conversations.get(root, []) if a.id == activity_id), None)
        if found is None:
            return 404, _error("ActivityNotFoundInConversation", "Conversation not found."), {}
        if len(raw) > MESSAGE_LIMIT:
            return 413, _error("MessageSizeTooBig", "Message size too large."), {}
        with self._lock:
            found.body = call.body if isinstance(call.body, dict) else {}
            found.updates += 1
            found.changed = datetime.now(UTC)
        return 200, {"id": activity_id}, {}

    def _graph(self, call: Call, parts: list[str]) -> Answer:
        """Graph's lists of messages: newest first, `$top` a page (50 at most), a
        `@odata.nextLink` to the next; a chat's also `$filter=createdDateTime gt …`."""
        if not self._authorized(call, GRAPH_SCOPE):
            return (
                401,
                _graph_error(
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                ),
                {},
            )
        query = call.query
        listed = self._listed(parts)
        if listed is None:
            return 404, _graph_error("NotFound", "Resource not found."), {}
        conversation, messages = listed
        after = query.get("$filter", "").removeprefix("createdDateTime gt ")
        if after:
            since = datetime.fromisoformat(after.replace("Z", "+00:00"))
            messages = [m for m in messages if m.created > since]
        top = int(query.get("$top", 20))
        if top > 50:
            return 400, _graph_error("BadRequest", "Invalid page size specified."), {}
        start = int(query.get("$skiptoken", 0))
        page = sorted(messages, key=lambda m: int(m.id), reverse=True)[start : start + top]
        body: dict[str, Any] = {"value": [self._chat_message(m, conversation) for m in page]}
        if start + top < len(messages):
            path = "/".join(quote(p, safe=":@") for p in ["graph", "v1.0", *parts])
            body["@odata.nextLink"] = f"{self.url}/{path}?$top={top}&$skiptoken={start + top}"
        return 200, body, {}

    def _listed(self, parts: list[str]) -> tuple[str, list[Activity]] | None:
        with self._lock:
            if parts[:1] == ["chats"] and len(parts) == 3 and parts[2] == "messages":
                conversation = self.chats.get(parts[1])
                if conversation is None:
                    return None
                return conversation, list(self.conversations.get(conversation, []))
            if parts[:1] != ["teams"] or parts[1] != self.team_id or parts[2] != "channels":
                return None
            channel = parts[3]
            everything = self.conversations.get(channel, [])
            if parts[4:] == ["messages"]:
                return channel, [a for a in everything if a.conversation == channel]
            if len(parts) == 7 and parts[4] == "messages" and parts[6] == "replies":
                thread = f"{channel};messageid={parts[5]}"
                return channel, [a for a in everything if a.conversation == thread]
        return None

    def _where(self, conversation: str) -> dict[str, Any]:
        if conversation.endswith("@thread.tacv2"):
            return {
                "chatId": None,
                "channelIdentity": {"teamId": self.team_id, "channelId": conversation},
            }
        return {"chatId": self.graph_chat_id(conversation), "channelIdentity": None}

    def _chat_message(self, activity: Activity, conversation: str) -> dict[str, Any]:
        """An activity as Graph shows it: a chatMessage, the card as a JSON string."""
        created = activity.created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        changed = (activity.changed or activity.created).isoformat(timespec="milliseconds")
        sender: dict[str, Any] = {"application": None, "device": None, "user": None}
        if activity.sender == self.app_id:
            sender["application"] = {
                "id": self.app_id,
                "displayName": "Baton",
                "applicationIdentityType": "bot",
            }
        else:
            sender["user"] = {"id": activity.sender, "userIdentityType": "aadUser"}
        attachments = [
            {
                "id": secrets.token_hex(16),
                "contentType": a.get("contentType"),
                "contentUrl": None,
                "content": json.dumps(a.get("content")),
                "name": None,
                "thumbnailUrl": None,
            }
            for a in activity.body.get("attachments") or []
        ]
        thread = activity.conversation.partition(";messageid=")[2]
        return {
            "id": activity.id,
            "replyToId": thread or None,
            "etag": activity.id,
            "messageType": "message",
            "createdDateTime": created,
            "lastModifiedDateTime": changed.replace("+00:00", "Z"),
            "from": sender,
            "body": {
                "contentType": "html",
                "content": "".join(f'<attachment id="{a["id"]}"></attachment>' for a in attachments)
                or activity.body.get("text", ""),
            },
            "attachments": attachments,
            **(
                {
                    "chatId": None,
                    "channelIdentity": {"teamId": self.team_id, "channelId": conversation},
                }
                if conversation.endswith("@thread.tacv2")
                else {"chatId": self.graph_chat_id(conversation), "channelIdentity": None}
            ),
        }


def _graph_error(code: str, message: str) -> dict[str, Any]:
    """Microsoft Graph's error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                "request-id": secrets.token_hex(16),
            },
        }
    }


def _error(code: str, message: str) -> dict[str, Any]:
    """The Bot Connector's error body."""
    return {"error": {"code": code, "message": message}}


def _entra(error: str, number: int, text: str) -> dict[str, Any]:
    """Microsoft Entra's error body for a refused token request."""
    trace = secrets.token_hex(16)
    return {
        "error": error,
        "error_description": f"AADSTS{number}: {text} Trace ID: {trace}",
        "error_codes": [number],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": trace,
        "correlation_id": secrets.token_hex(16),
    }
