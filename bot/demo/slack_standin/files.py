"""The stand-in's file uploads, the way `files_upload_v2` drives Slack's.

Three steps, as Slack has them since `files.upload` was retired:
`files.getUploadURLExternal` hands out a file id and an upload URL (here on the stand-in
itself, `/upload/v1/…`, where Slack's is on files.slack.com); the bytes are POSTed to that
URL; `files.completeUploadExternal` finishes the file and, given `channel_id` or `channels`,
shares it: a message with the file shows in each conversation. Without them the file stays
private to the uploader, who may show it in a message of its own with an image block's
`slack_file` (checked in `chat.postMessage` and `chat.update`: an unknown or unfinished file
is `invalid_blocks`, as in Slack).

A mixin of `FakeSlack`, whose `__init__` holds the state it works on.
"""

from __future__ import annotations

import json
from typing import Any

from bot.demo.slack_standin.calls import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, _maybe_json

UPLOAD_PREFIX = "/upload/v1/"
"""Where the stand-in takes a file's bytes (Slack's: https://files.slack.com/upload/v1/…)."""
ALT_TEXT_LIMIT = 1000
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}


class FilesMixin:
    """Files uploaded in three steps, shared in conversations or shown in image blocks."""

    # workspace data ----------------------------------------------------------------------

    def files(self) -> list[dict[str, Any]]:
        """Every file uploaded, oldest first, as files.info describes it (without the bytes)."""
        with self._lock:
            return [self._file_object(f) for f in self._files.values()]

    def file_content(self, file_id: str) -> tuple[bytes, str] | None:
        """A finished file's bytes and MIME type, or None (what the demo's page shows)."""
        with self._lock:
            found = self._files.get(file_id)
            if found is None or not found["complete"] or found["content"] is None:
                return None
            return found["content"], found["mimetype"]

    # the upload URL ----------------------------------------------------------------------

    def _take_upload(self, file_id: str, content: bytes) -> tuple[int, str]:
        """The POST of a file's bytes to its upload URL: Slack answers 200 `OK - <length>`."""
        with self._lock:
            found = self._files.get(file_id)
            if found is None or found["complete"]:
                return 404, "Not Found"
            found["content"] = content
            return 200, f"OK - {len(content)}"

    # methods -----------------------------------------------------------------------------

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except (TypeError, ValueError):
            length = 0
        if not filename or length <= 0:
            return {"ok": False, "error": "missing_argument"}
        alt = params.get("alt_txt")
        if alt is not None and len(str(alt)) > ALT_TEXT_LIMIT:
            return {"ok": False, "error": "alt_txt_too_large"}
        file_id = self._next_id("F")
        kind = filename.rsplit(".", 1)[-1].lower() if "." in filename else "binary"
        self._files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "alt_txt": alt,
            "filetype": kind,
            "mimetype": IMAGE_TYPES.get(kind, "application/octet-stream"),
            "content": None,
            "complete": False,
            "shares": {},
        }
        return {
            "ok": True,
            "upload_url": f"http://127.0.0.1:{self.port}{UPLOAD_PREFIX}{file_id}",
            "file_id": file_id,
        }

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            listed = _maybe_json(params.get("files") or "")
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not listed:
            return {"ok": False, "error": "invalid_arguments"}
        found = []
        for item in listed:
            file = self._files.get(str(item.get("id") or "")) if isinstance(item, dict) else None
            if file is None or file["content"] is None:  # never uploaded to its URL
                return {"ok": False, "error": "file_not_found"}
            found.append((file, item))
        targets = [str(params["channel_id"])] if params.get("channel_id") else []
        targets += [c.strip() for c in str(params.get("channels") or "").split(",") if c.strip()]
        for target in targets:
            person = target[:1] in ("U", "W")  # shared in the DM with that person
            if not person and not self._is_conversation(target):
                return {"ok": False, "error": "invalid_channel"}
            if target in self._outside:
                return {"ok": False, "error": "not_in_channel"}
        for file, item in found:
            file["complete"] = True
            if item.get("title"):
                file["title"] = str(item["title"])
        for target in targets:
            self._share([file for file, _ in found], target, params)
        return {"ok": True, "files": [self._file_object(file) for file, _ in found]}

    def _share(self, files: list[dict[str, Any]], target: str, params: dict[str, Any]) -> None:
        """The message a shared upload makes in a conversation: the files, under the comment."""
        channel = self._resolve_channel(target)
        ts = self._next_ts()
        message = {
            "type": "message",
            "subtype": "file_share",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": str(params.get("initial_comment") or ""),
            "ts": ts,
            "upload": True,
            "files": [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in files],
        }
        thread = params.get("thread_ts")
        if thread:
            message["thread_ts"] = str(thread)
            self._threads.setdefault((channel, str(thread)), []).append(message)
        else:
            self._history.setdefault(channel, []).append(message)
        for file in files:
            where = "private" if channel[:1] in ("D", "G") else "public"
            file["shares"].setdefault(where, {}).setdefault(channel, []).append({"ts": ts})
        self.version += 1  # a person sees the new message

    def _file_problem(self, blocks: Any) -> dict[str, Any] | None:
        """An image that names a Slack file must name one the uploader finished, by id or by
        its `url_private`/`permalink`, not both; Slack refuses the message otherwise."""
        for pointer, image in _images(blocks):
            source = image.get("slack_file")
            if source is None:
                continue
            if not isinstance(source, dict) or ("id" in source) == ("url" in source):
                return _invalid("must provide either url or id", pointer + "/slack_file")
            if "id" in source:
                file = self._files.get(str(source["id"]))
            else:
                file = next(
                    (
                        f
                        for f in self._files.values()
                        if source["url"] in (self._url_private(f), self._permalink(f))
                    ),
                    None,
                )
            if file is None or not file["complete"]:
                return _invalid("invalid slack file", pointer + "/slack_file")
            if file["mimetype"] not in IMAGE_TYPES.values():
                return _invalid("unsupported image file type", pointer + "/slack_file")
        return None

    # shapes ------------------------------------------------------------------------------

    def _url_private(self, file: dict[str, Any]) -> str:
        return f"https://files.slack.com/files-pri/{TEAM_ID}-{file['id']}/{file['name']}"

    def _permalink(self, file: dict[str, Any]) -> str:
        return f"https://test.slack.com/files/{BOT_USER_ID}/{file['id']}/{file['name']}"

    def _file_object(self, file: dict[str, Any]) -> dict[str, Any]:
        shares = json.loads(json.dumps(file["shares"]))
        return {
            "id": file["id"],
            "name": file["name"],
            "title": file["title"],
            "mimetype": file["mimetype"],
            "filetype": file["filetype"],
            "size": len(file["content"] or b""),
            "user": BOT_USER_ID,
            "alt_txt": file["alt_txt"],
            "url_private": self._url_private(file),
            "permalink": self._permalink(file),
            "is_public": "public" in shares,
            "shares": shares,
            "channels": sorted(shares.get("public", {})),
            "groups": sorted(c for c in shares.get("private", {}) if c.startswith("G")),
            "ims": sorted(c for c in shares.get("private", {}) if c.startswith("D")),
        }


def _images(blocks: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every image in a message's blocks with its JSON pointer: image blocks, a section's
    accessory and a context's elements."""
    found: list[tuple[str, dict[str, Any]]] = []
    for i, block in enumerate(blocks if isinstance(blocks, list) else []):
        if not isinstance(block, dict):
            continue
        at = f"/blocks/{i}"
        if block.get("type") == "image":
            found.append((at, block))
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "image":
            found.append((at + "/accessory", accessory))
        for j, element in enumerate(block.get("elements") or []):
            if isinstance(element, dict) and element.get("type") == "image":
                found.append((f"{at}/elements/{j}", element))
    return found


def _invalid(message: str, pointer: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_blocks",
        "errors": [message],
        "response_metadata": {"messages": [f"[ERROR] {message} [json-pointer:{pointer}]"]},
    }
