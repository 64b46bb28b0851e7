"""`POST /api/leads`: Marketing's systems hand over one lead, with the intake token."""

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Response, status

from bot import metrics
from bot.schemas import LeadCreated, LeadIn, LeadPublic
from bot.service.runtime import Runtime


def mount(api: FastAPI, runtime: Runtime) -> None:

    async def intake_token(authorization: Annotated[str | None, Header()] = None) -> None:
        """A comparison, made on the event loop: a thread for it would cost more than it does."""
        expected = runtime.settings.baton_intake_token
        scheme, _, given = (authorization or "").partition(" ")
        if (
            not expected
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid 'Authorization: Bearer <BATON_INTAKE_TOKEN>' header is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @api.post(
        "/api/leads",
        status_code=status.HTTP_201_CREATED,
        response_model=LeadPublic | LeadCreated,
        responses={200: {"model": LeadPublic, "description": "external_id seen before"}},
        dependencies=[Depends(intake_token)],
    )
    async def hand_over(lead: LeadIn, response: Response) -> LeadCreated | LeadPublic:
        """Hand over one lead. Answers once the lead and its card are stored."""
        result = await runtime.intake.hand_over(lead, by="api")
        if not result.created:
            response.status_code = status.HTTP_200_OK
            return LeadPublic.of(result.lead)
        metrics.LEADS_RECEIVED.labels(qualified=str(result.lead.qualified).lower()).inc()
        return LeadCreated(
            id=result.lead.id, qualified=result.lead.qualified, reasons=result.lead.reasons
        )
