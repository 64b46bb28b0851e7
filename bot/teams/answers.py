"""What Baton answers Teams in the HTTP response to an invoke (a click, a dialog).

Teams waits for these answers and shows them to the person who clicked alone: a card in
place of the one they clicked on (`card`), a line of text (`notice`: a refusal, say "the
lead is already claimed", which nobody else sees), a dialog to open (`dialog`), or the end
of one (`closed`). The shapes are the SDK's models (`microsoft_teams.api`), dumped as Teams
reads them; the card everyone sees is updated by the outbox, not here.
"""

from typing import Any, Literal

from microsoft_teams.api import Attachment
from microsoft_teams.api.models.adaptive_card.adaptive_card_action_response import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
)
from microsoft_teams.api.models.task_module import (
    CardTaskModuleTaskInfo,
    TaskModuleContinueResponse,
    TaskModuleMessageResponse,
    TaskModuleResponse,
)

from bot.teams.connector import CARD_TYPE
from bot.teams.text import cut

Size = Literal["small", "medium", "large"]
TITLE = 64  # characters of a dialog's title Teams shows


def card(content: dict[str, Any]) -> dict[str, Any]:
    """`adaptiveCard/action`: show `content` in place of the card that was clicked.

    The SDK's shape, with the card put in as it is: the card was rendered and fitted by
    Baton, and validating it again through the SDK's model on the way to every click's
    answer would cost more than the rest of the answer."""
    return {**_CARD, "value": content}


def notice(text: str) -> dict[str, Any]:
    """`adaptiveCard/action`: show `text` to the person who clicked, and to nobody else."""
    return _dump(AdaptiveCardActionMessageResponse(value=text))


def dialog(
    title: str, content: dict[str, Any], *, width: Size = "medium", height: Size = "medium"
) -> dict[str, Any]:
    """`task/fetch`: open a dialog showing the Adaptive Card `content`."""
    info = CardTaskModuleTaskInfo(
        title=cut(title, TITLE),
        width=width,
        height=height,
        card=Attachment(content_type=CARD_TYPE, content=content),
    )
    return _dump(TaskModuleResponse(task=TaskModuleContinueResponse(value=info)))


def closed(text: str | None = None) -> dict[str, Any]:
    """`task/submit`: close the dialog, with `text` shown to the person if given."""
    if text is None:
        return {}
    return _dump(TaskModuleResponse(task=TaskModuleMessageResponse(value=text)))


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True)


_CARD = {
    name: value
    for name, value in _dump(AdaptiveCardActionCardResponse.model_validate({"value": {}})).items()
    if name != "value"
}
"""`card`'s answer around its card: the SDK's status code and type."""
