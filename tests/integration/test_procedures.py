"""Procedures (versioned checklists) and the checklist rules of the work orders made from them, on the real
stack: CRUD, versions, roles and tenancy; copying steps; answering each kind; the completion rule; follow-ups."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.api import ApiClient, assert_problem

INSPECTION: dict[str, Any] = {
    "name": "Monthly inverter inspection",
    "description": "Visual and electrical checks of a central inverter.",
    "steps": [
        {"title": "Lock-out / tag-out applied", "kind": "check"},
        {"title": "DC insulation resistance", "kind": "number", "unit": "MΩ", "min": 1, "max": 1000},
        {"title": "Notes on the cabinet's state", "kind": "text", "required": False},
        {"title": "Fan test", "kind": "pass_fail", "photo_required": True},
    ],
    "estimated_duration_min": 90,
    "required_skills": ["electrical", "HV"],
    "asset_types": ["inverter"],
}


def _procedure(api: ApiClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/procedures", INSPECTION | fields)
    assert response.status_code == 201, response.text
    return response.json()


def _from_procedure(api: ApiClient, procedure: dict, **fields: Any) -> tuple[dict, dict, dict]:
    """A site, an inverter and an open work order on it made from ``procedure``."""
    site = api.site()
    inverter = api.asset(site["id"])
    wo = api.work_order(site["id"], asset_id=inverter["id"], procedure_id=procedure["id"], status="open", **fields)
    return site, inverter, wo


def _answer(api: ApiClient, wo: dict, step: str, answer: Any, **headers: str) -> Any:
    return api.http.put(
        f"/api/v1/work-orders/{wo['id']}/checklist/{step}",
        json={"answer": answer},
        headers=api._headers(headers),  # the client's credential: its key or its person's token
    )


def _move(api: ApiClient, wo: dict, *statuses: str) -> Any:
    response = None
    for to in statuses:
        response = api.post(f"/api/v1/work-orders/{wo['id']}/transitions", {"to": to})
    return response


# -- procedures ----------------------------------------------------------------------------------------


def test_procedure_crud_assigns_step_ids_and_versions_every_change(api) -> None:
    # when a supervisor creates a procedure
    created = api.post("/api/v1/procedures", INSPECTION)
    assert created.status_code == 201, created.text
    procedure = created.json()
    path = f"/api/v1/procedures/{procedure['id']}"
    assert created.headers["location"] == path and created.headers["etag"] == '"v1"'
    # then its steps have server-assigned ids and their defaults
    assert [s["id"] for s in procedure["steps"]] == ["s1", "s2", "s3", "s4"]
    assert [s["required"] for s in procedure["steps"]] == [True, True, False, True]
    assert procedure["steps"][1] == {
        "id": "s2",
        "title": "DC insulation resistance",
        "kind": "number",
        "required": True,
        "unit": "MΩ",
        "min": 1.0,
        "max": 1000.0,
        "photo_required": False,
    }
    assert procedure["version"] == 1 and procedure["asset_types"] == ["inverter"]
    # and it is read with an ETag, and listed
    first = api.get(path)
    assert first.json() == procedure
    assert api.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    assert [p["id"] for p in api.get("/api/v1/procedures").json()["items"]] == [procedure["id"]]
    # when it changes (a merge patch, pinned to its version), it is a new version; steps keep given ids
    steps = [*procedure["steps"], {"title": "Clean the air filters"}]
    changed = api.patch(path, {"name": "Inverter inspection", "steps": steps}, headers={"If-Match": '"v1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.headers["etag"] == '"v2"'
    assert [s["id"] for s in changed.json()["steps"]] == ["s1", "s2", "s3", "s4", "s5"]
    # a stale pin is 412; a description can be cleared
    assert_problem(api.patch(path, {"estimated_duration_min": 60}, headers={"If-Match": '"v1"'}), 412)
    cleared = api.patch(path, {"description": None}).json()
    assert (cleared["description"], cleared["version"]) == (None, 3)
    # when it is deleted, it is gone
    assert api.delete(path, headers={"If-Match": '"v3"'}).status_code == 204
    assert_problem(api.get(path), 404)


def test_procedure_validation_names_the_fields(api) -> None:
    def refused(body: dict, field: str) -> None:
        assert_problem(api.post("/api/v1/procedures", INSPECTION | body), 422, field)

    refused({"steps": []}, "body.steps")
    refused({"steps": [{"title": "x"}] * 201}, "body.steps")
    refused({"steps": [{"title": "Reading", "kind": "number", "min": 5, "max": 1}]}, "body.steps.0")
    refused({"steps": [{"title": "Tick", "kind": "check", "unit": "V"}]}, "body.steps.0")
    refused({"steps": [{"title": "Tick", "kind": "photo"}]}, "body.steps.0.kind")
    refused({"steps": [{"id": "a", "title": "One"}, {"id": "a", "title": "Two"}]}, "body.steps")
    refused({"steps": [{"id": "no spaces", "title": "One"}]}, "body.steps.0.id")
    refused({"asset_types": ["spaceship"]}, "body.asset_types.0")
    refused({"estimated_duration_min": 0}, "body.estimated_duration_min")
    procedure = _procedure(api)
    patch = api.patch(f"/api/v1/procedures/{procedure['id']}", {"steps": None})
    assert_problem(patch, 422, "body.steps")


def test_only_admins_and_supervisors_change_procedures_and_tenants_are_apart(
    api, tenant, other_tenant, client_for
) -> None:
    procedure = _procedure(api)
    path = f"/api/v1/procedures/{procedure['id']}"
    assert _procedure(client_for(tenant, "supervisor"))["version"] == 1
    for role in ("technician", "viewer"):
        client = client_for(tenant, role)
        assert_problem(client.post("/api/v1/procedures", INSPECTION), 403)
        assert_problem(client.patch(path, {"name": "Mine"}), 403)
        assert_problem(client.delete(path), 403)
        assert client.get(path).status_code == 200  # everyone reads them
    # another tenant's procedure does not exist for this one, to read, change, delete or use
    stranger = client_for(other_tenant, "admin")
    assert_problem(stranger.get(path), 404)
    assert_problem(stranger.patch(path, {"name": "Mine"}), 404)
    assert_problem(stranger.delete(path), 404)
    assert stranger.get("/api/v1/procedures").json()["items"] == []
    site = stranger.site()
    body = {"site_id": site["id"], "title": "x", "type": "preventive", "procedure_id": procedure["id"]}
    assert_problem(stranger.post("/api/v1/work-orders", body), 422, "body.procedure_id")
    assert api.get(path).json()["name"] == INSPECTION["name"]


# -- work orders from a procedure ------------------------------------------------------------------------


def test_a_work_order_from_a_procedure_copies_its_steps_and_version(api) -> None:
    procedure = _procedure(api)
    site, inverter, wo = _from_procedure(api, procedure)
    assert (wo["procedure_id"], wo["procedure_version"]) == (procedure["id"], 1)
    assert [(i["id"], i["item"], i["kind"], i["required"]) for i in wo["checklist"]] == [
        (s["id"], s["title"], s["kind"], s["required"]) for s in procedure["steps"]
    ]
    assert wo["checklist"][1] == {
        "item": "DC insulation resistance",
        "done": False,
        "id": "s2",
        "kind": "number",
        "required": True,
        "unit": "MΩ",
        "min": 1.0,
        "max": 1000.0,
        "photo_required": False,
        "answer": None,
        "answered_by": None,
        "answered_at": None,
        "follow_up_work_order_id": None,
    }
    assert wo["checklist"][3]["photo_required"] is True
    # a later version of the procedure leaves the work order as it was; new work orders copy the new one
    api.patch(f"/api/v1/procedures/{procedure['id']}", {"steps": [{"title": "Only step"}]})
    assert len(api.get(f"/api/v1/work-orders/{wo['id']}").json()["checklist"]) == 4
    again = api.work_order(site["id"], asset_id=inverter["id"], procedure_id=procedure["id"])
    assert again["procedure_version"] == 2 and [i["item"] for i in again["checklist"]] == ["Only step"]
    # a site-level work order (no asset) may follow it too
    assert api.work_order(site["id"], procedure_id=procedure["id"])["procedure_id"] == procedure["id"]


def test_a_procedure_must_exist_and_apply_to_the_asset(api) -> None:
    procedure = _procedure(api)
    site = api.site()
    transformer = api.asset(site["id"], name="TR-1", type="transformer")
    base = {"site_id": site["id"], "title": "Inspect", "type": "preventive"}
    body = assert_problem(
        api.post("/api/v1/work-orders", base | {"asset_id": transformer["id"], "procedure_id": procedure["id"]}),
        422,
        "body.procedure_id",
    )
    assert "transformer" in body["detail"]
    assert_problem(api.post("/api/v1/work-orders", base | {"procedure_id": "proc_missing"}), 422, "body.procedure_id")
    with_checklist = base | {"procedure_id": procedure["id"], "checklist": [{"item": "extra"}]}
    assert_problem(api.post("/api/v1/work-orders", with_checklist), 422, "body.checklist")
    # a procedure for any asset type applies to the transformer
    anything = _procedure(api, asset_types=[])
    wo = api.work_order(site["id"], asset_id=transformer["id"], procedure_id=anything["id"])
    assert wo["procedure_id"] == anything["id"]


def test_answering_each_kind_records_who_and_when(api, tenant) -> None:
    _, _, wo = _from_procedure(api, _procedure(api))
    answers = {"s1": True, "s2": 12.5, "s3": "  Dusty but dry  ", "s4": "pass"}
    for step, answer in answers.items():
        response = _answer(api, wo, step, answer)
        assert response.status_code == 200, response.text
    final = response.json()
    assert final["version"] == 5 and response.headers["etag"] == '"v5"'
    assert [i["answer"] for i in final["checklist"]] == [True, 12.5, "Dusty but dry", "pass"]
    assert all(i["done"] and i["answered_by"] == tenant.users["admin"].id for i in final["checklist"])
    assert all(i["answered_at"] and i["follow_up_work_order_id"] is None for i in final["checklist"])
    # a check answered false is not done; null clears an answer
    unticked = _answer(api, wo, "s1", False).json()["checklist"][0]
    assert (unticked["answer"], unticked["done"]) == (False, False)
    cleared = _answer(api, wo, "s3", None).json()["checklist"][2]
    assert (cleared["answer"], cleared["done"], cleared["answered_by"], cleared["answered_at"]) == (
        None,
        False,
        None,
        None,
    )
    # If-Match pins the version as it does for PATCH
    assert_problem(_answer(api, wo, "s1", True, **{"If-Match": '"v2"'}), 412)
    assert _answer(api, wo, "s1", True, **{"If-Match": '"v7"'}).json()["version"] == 8


def test_answers_of_the_wrong_type_unknown_steps_and_finished_work_orders_are_refused(api, tenant, client_for) -> None:
    _, _, wo = _from_procedure(api, _procedure(api))
    for step, answer in [("s1", "yes"), ("s1", 1), ("s2", True), ("s2", "12"), ("s3", 5), ("s4", "maybe")]:
        body = assert_problem(_answer(api, wo, step, answer), 422, "body.answer")
        assert step in body["detail"]
    assert_problem(_answer(api, wo, "s9", True), 404)
    assert_problem(_answer(api, {"id": "wo_missing"}, "s1", True), 404)
    assert_problem(
        api.http.put(f"/api/v1/work-orders/{wo['id']}/checklist/s1", json={}, headers={"x-api-key": api.key}),
        422,
        "body.answer",
    )
    assert_problem(_answer(client_for(tenant, "viewer"), wo, "s1", True), 403)
    assert _answer(client_for(tenant, "technician"), wo, "s1", True).status_code == 200
    _move(api, wo, "cancelled")
    assert_problem(_answer(api, wo, "s1", False), 409)
    # free-form items have no step id: there is nothing to answer
    free = api.work_order(api.site()["id"], checklist=[{"item": "LOTO"}])
    assert_problem(_answer(api, free, "s1", True), 404)


def test_completion_needs_the_required_steps_answered(api) -> None:
    _, _, wo = _from_procedure(api, _procedure(api))
    _move(api, wo, "in_progress")
    _answer(api, wo, "s1", True)
    # when it is completed with s2 and s4 unanswered (s3 is optional), it is refused, naming them
    refused = assert_problem(_move(api, wo, "completed"), 409)
    assert refused["missing_steps"] == ["s2", "s4"]
    assert "s2 (DC insulation resistance)" in refused["detail"] and "s4 (Fan test)" in refused["detail"]
    assert "s3" not in refused["detail"]
    # a check answered false is not done either
    _answer(api, wo, "s2", 500)
    _answer(api, wo, "s4", "pass")
    _answer(api, wo, "s1", False)
    assert assert_problem(_move(api, wo, "completed"), 409)["missing_steps"] == ["s1"]
    # when they are all done, it completes; a required step cannot then be undone, an optional one can
    _answer(api, wo, "s1", True)
    completed = _move(api, wo, "completed")
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    assert_problem(_answer(api, wo, "s2", None), 409)
    assert _answer(api, wo, "s3", "Re-torqued two terminals").status_code == 200
    assert _move(api, wo, "closed").json()["status"] == "closed"


def test_a_reading_outside_its_limits_raises_one_follow_up(api) -> None:
    _, inverter, wo = _from_procedure(api, _procedure(api), assigned_to="usr_tech")
    # when the insulation reads 0.4 MΩ (below 1), twice, the second time concurrently with a third answer
    first = _answer(api, wo, "s2", 0.4)
    assert first.status_code == 200, first.text
    follow_up_id = first.json()["checklist"][1]["follow_up_work_order_id"]
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda v: _answer(api, wo, "s2", v), [0.3, 0.4]))
    assert [r.status_code for r in again] == [200, 200]
    assert {r.json()["checklist"][1]["follow_up_work_order_id"] for r in again} == {follow_up_id}
    # then there is exactly one follow-up: corrective, high priority, on the same site and asset
    follow_ups = [
        w for w in api.get("/api/v1/work-orders", asset_id=inverter["id"]).json()["items"] if w["id"] != wo["id"]
    ]
    assert [w["id"] for w in follow_ups] == [follow_up_id]
    follow_up = api.get(f"/api/v1/work-orders/{follow_up_id}").json()
    assert (follow_up["type"], follow_up["priority"], follow_up["status"]) == ("corrective", "high", "open")
    assert (follow_up["site_id"], follow_up["asset_id"], follow_up["follow_up_of"]) == (
        wo["site_id"],
        inverter["id"],
        wo["id"],
    )
    assert follow_up["title"] == "Follow-up: DC insulation resistance: 0.4 MΩ, below the minimum 1 MΩ"
    assert f"checklist of work order {wo['id']}" in follow_up["description"] and "step s2" in follow_up["description"]
    # a reading back within limits keeps the link and raises nothing more; nor does a passed fan test
    assert _answer(api, wo, "s2", 5).json()["checklist"][1]["follow_up_work_order_id"] == follow_up_id
    assert _answer(api, wo, "s4", "pass").json()["checklist"][3]["follow_up_work_order_id"] is None
    # a failed fan test raises its own follow-up
    failed = _answer(api, wo, "s4", "fail").json()["checklist"][3]
    fan = api.get(f"/api/v1/work-orders/{failed['follow_up_work_order_id']}").json()
    assert fan["title"] == "Follow-up: Fan test: fail" and fan["follow_up_of"] == wo["id"]
    assert len(api.get("/api/v1/work-orders", asset_id=inverter["id"]).json()["items"]) == 3


def test_free_form_checklists_still_work(api) -> None:
    site = api.site()
    wo = api.work_order(site["id"], checklist=[{"item": "LOTO"}, {"item": "Record readings", "done": True}])
    assert wo["checklist"] == [{"item": "LOTO", "done": False}, {"item": "Record readings", "done": True}]
    assert wo["procedure_id"] is None and wo["procedure_version"] is None and wo["follow_up_of"] is None
    path = f"/api/v1/work-orders/{wo['id']}"
    patched = api.patch(path, {"checklist": [{"item": "LOTO", "done": True}]})
    assert patched.json()["checklist"] == [{"item": "LOTO", "done": True}]
    # free-form items are never required: unticked ones do not block completion
    api.patch(path, {"checklist": [{"item": "LOTO"}]})
    assert _move(api, wo, "open", "in_progress", "completed").json()["status"] == "completed"
    # while a procedure's checklist changes only by answering its steps
    _, _, from_procedure = _from_procedure(api, _procedure(api))
    body = assert_problem(api.patch(f"/api/v1/work-orders/{from_procedure['id']}", {"checklist": []}), 409)
    assert "answering its steps" in body["detail"]
    assert api.patch(f"/api/v1/work-orders/{from_procedure['id']}", {"title": "Renamed"}).status_code == 200
