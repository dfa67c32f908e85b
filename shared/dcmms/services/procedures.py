"""Procedures: versioned checklist templates that work orders copy (fleet configuration, like alert rules:
admins and supervisors change them, everyone reads them). Every change is a new version; a work order keeps
the steps and the version it copied."""

from __future__ import annotations

from typing import Any

from dcmms.cache import Doc
from dcmms.domain import commands as cmd
from dcmms.domain.ids import new_id
from dcmms.domain.model import Principal, utcnow
from dcmms.domain.procedures import Procedure, assign_step_ids

from .common import PROCEDURE, Service, require_fleet, revalidate


def _steps(steps: list[cmd.StepDefinition]) -> list[dict[str, Any]]:
    return assign_step_ids([s.model_dump() for s in steps])


class ProcedureService(Service):
    """Create, read, list, version and delete procedures."""

    def create_procedure(self, p: Principal, body: cmd.ProcedureCreate) -> Procedure:
        require_fleet(p)
        now = utcnow()
        fields = body.model_dump() | {
            "steps": _steps(body.steps),
            "id": new_id("proc"),
            "tenant_id": p.tenant_id,
            "created_at": now,
            "updated_at": now,
        }
        return self._create(PROCEDURE, revalidate(Procedure, fields))

    def read_procedure(self, p: Principal, procedure_id: str) -> Doc:
        return self._read(PROCEDURE, p, procedure_id)

    def list_procedures(self, p: Principal, limit: int, cursor: str | None) -> bytes:
        params = {"limit": limit, "cursor": cursor}
        return self._page(PROCEDURE, p, params, lambda: self.repositories.procedures.list(p.tenant_id, limit, cursor))

    def update_procedure(
        self, p: Principal, procedure_id: str, body: cmd.ProcedurePatch, if_match: int | None
    ) -> Procedure:
        """A JSON merge patch: ``steps`` replaces the whole list (steps sent without an id get one)."""
        require_fleet(p)
        fields = cmd.patch_fields(body)
        if body.steps is not None:
            fields["steps"] = _steps(body.steps)
        return self._mutate(PROCEDURE, p, procedure_id, lambda _: fields, if_match)

    def delete_procedure(self, p: Principal, procedure_id: str, if_match: int | None) -> None:
        """Work orders made from it keep their copy of its steps."""
        require_fleet(p)
        self._delete(PROCEDURE, self._pinned(PROCEDURE, p, procedure_id, if_match))

    def referenced_procedure(self, p: Principal, procedure_id: str, field: str = "procedure_id") -> Procedure:
        """The procedure an input names (read from the store), or a 422 naming ``field``."""
        return self._referenced(PROCEDURE, p, procedure_id, field)
