"""The shape of the parts of an activity Baton reads, checked once its token is: an activity
from Teams always has it, so anything else is answered 400 with what is wrong, never a 500.

Only the fields Baton reads are checked; Teams adds fields over time, and they are kept.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Account(_Part):
    id: str | None = None
    name: str | None = None
    aadObjectId: str | None = None
    email: str | None = None
    userPrincipalName: str | None = None


class Conversation(_Part):
    id: str | None = None
    conversationType: str | None = None
    tenantId: str | None = None


class Ref(_Part):
    id: str | None = None
    aadGroupId: str | None = None


class ChannelData(_Part):
    tenant: Ref | None = None
    team: Ref | None = None
    channel: Ref | None = None


class Activity(_Part):
    type: str | None = None
    id: str | None = None
    name: str | None = None
    serviceUrl: str | None = None
    sender: Account | None = Field(default=None, alias="from")
    recipient: Account | None = None
    conversation: Conversation | None = None
    channelData: ChannelData | None = None
    membersAdded: list[Account] = Field(default_factory=list)
    value: dict[str, Any] | None = None


def problems(activity: dict[str, Any]) -> list[dict[str, Any]]:
    """Each field of `activity` that is not what Teams sends, as FastAPI words field errors."""
    try:
        Activity.model_validate(activity)
    except ValidationError as error:
        return [
            {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in error.errors()
        ]
    return []
