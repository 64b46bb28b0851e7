"""`routing.max_open` on Claim, through the real app on both front ends: a seller holding the
agreement's most open leads is refused another claim, told alone, and nothing changes; the
sales manager may still assign them one, and is told they are over the cap."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bot import intake
from bot.actions import ActionId, BlockId, ViewId
from bot.agreement_file import parse_agreement
from bot.schemas import LeadIn
from storage import leads
from tests.fake_teams import FakeTeams
from tests.support import AGREEMENT, GOOD_LEAD, block_action, eventually, lead, show_card
from tests.teams_support import MANAGER, SELLERS, TEAMS_AGREEMENT, TeamsBaton, teams_baton

CAP = "routing: {max_open: 1}\n"
MESSAGE = "application/vnd.microsoft.activity.message"
CARD = "application/vnd.microsoft.card.adaptive"


def owner_of(runtime, lead_id: str) -> str | None:
    return owner_in(runtime.ctx, lead_id)


def owner_in(ctx, lead_id: str) -> str | None:
    with ctx.sessions() as session:
        found = leads.get(session=session, lead_id=lead_id)
        assert found is not None
        return found.owner


# --- Slack -----------------------------------------------------------------------------------


@pytest.fixture
def agreement():
    return parse_agreement(AGREEMENT + CAP)


def test_on_slack_a_seller_at_the_cap_is_refused_alone_and_the_manager_may_still_assign(
    baton, slack
):
    first, second, third = (baton.hand_over(GOOD_LEAD).json()["id"] for _ in range(3))
    baton.click("U0SELLER1", ActionId.CLAIM, first)
    assert eventually(lambda: owner_of(baton.runtime, first)) == "U0SELLER1"

    baton.click("U0SELLER1", ActionId.CLAIM, second)
    [told] = slack.wait_for(
        "chat.postEphemeral", where=lambda c: "open lead" in (c.params.get("text") or "")
    )
    assert told.params["user"] == "U0SELLER1"
    assert "You hold 1 open lead," in told.params["text"]
    assert "(1)" in told.params["text"]
    assert owner_of(baton.runtime, second) is None

    baton.click("U0SELLER2", ActionId.CLAIM, second)  # the cap is each seller's own
    assert eventually(lambda: owner_of(baton.runtime, second)) == "U0SELLER2"

    reassign = block_action(user="U0MANAGER", action_id=ActionId.REASSIGN, value=third)
    reassign["actions"][0].update(type="users_select", selected_user="U0SELLER1")
    assert baton.interact(reassign).status_code == 200
    assert eventually(lambda: owner_of(baton.runtime, third)) == "U0SELLER1"
    [assigned] = slack.wait_for(
        "chat.postEphemeral", where=lambda c: "Assigned to" in (c.params.get("text") or "")
    )
    assert "They now hold 2 open leads, over the agreement's most of 1" in assigned.params["text"]


# --- Teams -----------------------------------------------------------------------------------


@pytest.fixture
def teams_app(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with teams_baton(teams, database_url, TEAMS_AGREEMENT + CAP) as running:
        yield running


def handed_over(app: TeamsBaton) -> str:
    answer = app.hand_over(lead())
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["id"]
    show_card(app.runtime.ctx, lead_id)
    return lead_id


def test_on_teams_a_seller_at_the_cap_is_refused_alone_and_the_manager_may_still_assign(
    teams_app,
):
    first, second, third = (handed_over(teams_app) for _ in range(3))
    assert teams_app.click(SELLERS[0], ActionId.CLAIM, first).json()["type"] == CARD

    refused = teams_app.click(SELLERS[0], ActionId.CLAIM, second).json()
    assert refused["type"] == MESSAGE  # shown to the clicker alone
    assert "You hold 1 open lead," in refused["value"]
    assert "Nothing was changed" in refused["value"]
    assert owner_of(teams_app.runtime, second) is None
    with teams_app.runtime.ctx.sessions() as session:
        kinds = [e.kind for e in leads.history(session=session, lead_id=second)]
    assert "claimed" not in kinds

    assert teams_app.click(SELLERS[1], ActionId.CLAIM, second).json()["type"] == CARD

    done = teams_app.submit(
        MANAGER, ViewId.ASSIGN, third, **{BlockId.ASSIGNEE.value: SELLERS[0]}
    ).json()
    assert owner_of(teams_app.runtime, third) == SELLERS[0]
    assert "They now hold 2 open leads" in done["task"]["value"]


# --- the same seller's claims at the same instant --------------------------------------------


def waits_for_a_lock(ctx) -> bool:
    """Whether a transaction is waiting for a lock another holds (PostgreSQL says; SQLite's
    second writer waits without saying so)."""
    with ctx.sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return True
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'"
        return session.execute(text(waiting)).scalar_one() > 0


def test_two_claims_by_one_seller_at_once_pass_the_cap_once(ctx):
    """The first claim is made and not yet committed when the second is made: the second
    waits for it, then counts its lead, and is refused. Without waiting it would count the
    first lead as unowned (PostgreSQL's READ COMMITTED) and claim over the cap."""
    first, second = (intake.hand_over(ctx, LeadIn(**GOOD_LEAD), by="api").lead.id for _ in "12")
    now, seller = datetime.now(UTC), "U0SELLER1"
    with ctx.sessions() as session, ThreadPoolExecutor(1) as pool:
        assert leads.claim(session=session, lead_id=first, user=seller, at=now, cap=1)

        def other() -> object:
            with ctx.sessions() as racing, racing.begin():
                return leads.claim(session=racing, lead_id=second, user=seller, at=now, cap=1)

        racing = pool.submit(other)
        eventually(lambda: racing.done() or waits_for_a_lock(ctx))
        session.commit()
        assert racing.result() is None
    assert owner_in(ctx, first) == seller and owner_in(ctx, second) is None
