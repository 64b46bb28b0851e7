"""The note written to the CRM: HTML with everything a person typed escaped, within the
CRMs' limits (HubSpot's `hs_note_body` holds 65,536 characters)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.crm.notes import MAX_NOTE, note, stamp

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Copenhagen"))
HUBSPOT_NOTE_LIMIT = 65_536


def test_feedback_names_outcome_reason_who_and_when():
    body = note(
        step="feedback",
        by="Sofie Berg",
        at=AT,
        stamp="baton:1:2",
        outcome="nurture",
        reason="too early in the buying process",
        text="Call again in March\nBudget in Q2",
    )
    assert "Feedback from Sales: back to nurture" in body
    assert "(too early in the buying process)" in body
    assert "given by Sofie Berg, 2026-11-24 10:30 CET" in body
    assert "Call again in March<br>Budget in Q2" in body
    assert body.endswith("<p><em>From Baton · baton:1:2</em></p>")


def test_contacted_says_who_and_when_and_nothing_of_feedback():
    body = note(step="contacted", by="Sofie Berg", at=AT, stamp="baton:1:2")
    assert body.startswith("<p><strong>Contacted</strong> by Sofie Berg, 2026-11-24 10:30 CET")
    assert "Feedback" not in body


def test_what_people_typed_is_text_never_markup():
    body = note(
        step="feedback",
        by='<img src=x onerror="alert(1)">',
        at=AT,
        stamp="s",
        outcome="rejected",
        reason="<b>bad</b>",
        text="<script>alert(1)</script>",
    )
    assert "<script>" not in body and "<img" not in body and "<b>bad" not in body
    assert "&lt;script&gt;" in body and "&lt;img" in body


def test_the_longest_note_fits_hubspots_limit():
    body = note(
        step="feedback",
        by="&" * 1000,
        at=AT,
        stamp=stamp(2**62, AT),
        outcome="rejected",
        reason="&" * 1000,
        text="&" * (MAX_NOTE + 5000),
    )
    assert body.count("&amp;") == 1000 + 1000 + MAX_NOTE
    assert len(body) < HUBSPOT_NOTE_LIMIT


def test_a_stamp_names_the_row_and_when_it_was_queued():
    assert stamp(42, datetime(2026, 11, 24, 9, 30, tzinfo=UTC)) == "baton:42:1795512600000"
