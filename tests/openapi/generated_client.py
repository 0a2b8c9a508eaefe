"""Calls a running taskq app through a Python client generated from its
OpenAPI document, as generated: no hand edits. Run by .ci/check-openapi
against the axum_app example, whose tasks (`greet`) it uses.

Every call goes through the generated functions and models, with
`raise_on_unexpected_status`: an answer whose status the document does
not declare fails the run, as does a body that does not parse into the
declared model.

Usage: python generated_client.py ORIGIN DOCUMENT TOKEN
  ORIGIN    http://host:port of the app
  DOCUMENT  the openapi.json it served (its `servers` entry is the prefix)
"""

import datetime
import json
import sys
import uuid

from taskq_client import AuthenticatedClient, Client
from taskq_client.api.schedules import (
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
)
from taskq_client.api.task_types import list_task_types
from taskq_client.api.tasks import get_task, list_tasks, submit_task
from taskq_client.api.workflows import cancel_workflow, get_workflow, submit_workflow
from taskq_client.models import (
    ErrorBody,
    ScheduleInfo,
    ScheduleKindName,
    ScheduleList,
    ScheduleRequest,
    StepInput,
    StepSpec,
    SubmitRequest,
    TaskList,
    TaskRecord,
    TaskState,
    WorkflowRecord,
    WorkflowSpec,
    WorkflowState,
)


def check(condition, what):
    if not condition:
        raise SystemExit(f"generated client: {what}")


def main(origin, document, token):
    with open(document, encoding="utf-8") as file:
        servers = json.load(file)["servers"]
    # The document's server keeps the mount prefix (`/taskq`).
    base_url = origin + servers[0]["url"]
    # The header the document asks every write without a JSON body for
    # (CSRF), set once for every call as a client's default header.
    csrf = {"X-Requested-With": "taskq-openapi-check"}
    client = AuthenticatedClient(
        base_url=base_url, token=token, headers=csrf, raise_on_unexpected_status=True
    )
    bare = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    types = list_task_types.sync(client=client)
    check(any(t.name == "greet" for t in types), f"task types: {[t.name for t in types]}")

    submitted = submit_task.sync_detailed(
        client=client,
        body=SubmitRequest(task_type="greet", params={"name": "generated"}, id=uuid.uuid4()),
    )
    check(submitted.status_code == 201, f"submit: {submitted.status_code}")
    record = submitted.parsed
    check(isinstance(record, TaskRecord), f"submit parsed as {type(record)}")
    ended = get_task.sync(client=client, id=record.id, wait="20s")
    check(ended.state == TaskState.FINISHED, f"greet ended {ended.state}")
    check(ended.result == "hello, generated", f"result {ended.result!r}")

    since = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    page = list_tasks.sync(client=client, state=TaskState.FINISHED, created_after=since, page_size=5)
    check(isinstance(page, TaskList) and page.total >= 1, f"list: {page}")
    check(any(t.id == record.id for t in page.tasks), "the task is listed")

    # Errors parse into the error body, naming the field.
    refused = submit_task.sync_detailed(
        client=client,
        body=SubmitRequest(task_type="greet", params={"name": "x"}, timeout=0.0),
    )
    check(refused.status_code == 400, f"timeout 0: {refused.status_code}")
    check(isinstance(refused.parsed, ErrorBody), f"timeout 0 parsed as {type(refused.parsed)}")
    check(refused.parsed.error.details["field"] == "timeout", f"{refused.parsed}")
    denied = list_tasks.sync_detailed(client=anonymous)
    check(denied.status_code == 401 and isinstance(denied.parsed, ErrorBody), f"{denied}")

    created = create_schedule.sync_detailed(
        client=client,
        body=ScheduleRequest(
            name="nightly greeting",
            task_type="greet",
            params={"name": "night"},
            kind=ScheduleKindName.CRON,
            expression="0 3 * * *",
            time_zone="Europe/Paris",
        ),
    )
    check(created.status_code == 201, f"create schedule: {created.status_code} {created.content!r}")
    schedule = created.parsed
    check(isinstance(schedule, ScheduleInfo), f"schedule parsed as {type(schedule)}")
    check(schedule.kind == ScheduleKindName.CRON and schedule.expression == "0 3 * * *", f"{schedule}")
    check(isinstance(schedule.next_run_at, datetime.datetime), f"next run {schedule.next_run_at!r}")
    listed = list_schedules.sync(client=client, page=1, page_size=10)
    check(isinstance(listed, ScheduleList), f"schedules parsed as {type(listed)}")
    check([s.name for s in listed.schedules] == ["nightly greeting"], f"{listed.schedules}")
    one = get_schedule.sync(client=client, name="nightly greeting")
    check(isinstance(one, ScheduleInfo) and one.time_zone == "Europe/Paris", f"{one}")
    # Without the header a bodiless write is refused, as a declared 403.
    forged = delete_schedule.sync_detailed(client=bare, name="nightly greeting")
    check(forged.status_code == 403 and isinstance(forged.parsed, ErrorBody), f"{forged}")
    check(forged.parsed.error.code == "csrf_header_missing", f"{forged.parsed}")
    gone = delete_schedule.sync_detailed(client=client, name="nightly greeting")
    check(gone.status_code == 204, f"delete schedule: {gone.status_code}")
    missing = get_schedule.sync_detailed(client=client, name="nightly greeting")
    check(missing.status_code == 404 and isinstance(missing.parsed, ErrorBody), f"{missing}")
    bad_name = create_schedule.sync_detailed(
        client=client,
        body=ScheduleRequest(name="..", task_type="greet", kind=ScheduleKindName.INTERVAL, every=60.0),
    )
    check(bad_name.status_code == 400, f"name `..`: {bad_name.status_code}")
    check(bad_name.parsed.error.details["field"] == "name", f"{bad_name.parsed}")

    check_workflows(client)

    print(f"generated client: {base_url}: submit, wait, list, errors, schedules and workflows work unedited")


def check_workflows(client):
    """Workflows through the generated client: a two-step one read back
    (the second step waits for the first) and cancelled, a one-step one
    run to its end, and a bad step refused naming it. What the steps'
    states become is the lifecycle's business, tested in Rust; here the
    records and errors must parse as the document declares them."""
    spec = WorkflowSpec(
        steps=[
            StepSpec(name="first", task="greet", params={"name": "flow"}),
            StepSpec(name="second", task="greet", after=["first"], input_=StepInput.PARAMS,
                     params={"name": "after"}),
        ]
    )
    submitted = submit_workflow.sync_detailed(client=client, body=spec)
    check(submitted.status_code == 201, f"submit workflow: {submitted.status_code} {submitted.content!r}")
    workflow = submitted.parsed
    check(isinstance(workflow, WorkflowRecord), f"workflow parsed as {type(workflow)}")
    check([s.step.name for s in workflow.steps] == ["first", "second"], f"{workflow.steps}")
    second = workflow.steps[1]
    check(second.step.parents == [workflow.steps[0].id], f"parents {second.step.parents}")
    check(isinstance(second.state, TaskState), f"state {second.state!r}")
    check([list(e) for e in workflow.edges] == [[workflow.steps[0].id, second.id]], f"{workflow.edges}")
    read = get_workflow.sync(client=client, id=workflow.id)
    check(isinstance(read, WorkflowRecord) and read.id == workflow.id, f"{read}")
    cancelled = cancel_workflow.sync(client=client, id=workflow.id)
    check(isinstance(cancelled, WorkflowRecord) and cancelled.id == workflow.id, f"cancel: {cancelled}")

    single = submit_workflow.sync(
        client=client,
        body=WorkflowSpec(steps=[StepSpec(name="only", task="greet", params={"name": "alone"})]),
    )
    check(isinstance(single, WorkflowRecord), f"single parsed as {type(single)}")
    ended = get_task.sync(client=client, id=single.steps[0].id, wait="20s")
    check(ended.state == TaskState.FINISHED and ended.step.name == "only", f"{ended}")
    done = get_workflow.sync(client=client, id=single.id)
    check(done.state == WorkflowState.FINISHED, f"one-step workflow {done.state}")

    refused = submit_workflow.sync_detailed(
        client=client, body=WorkflowSpec(steps=[StepSpec(name="bad", task="no.such.task")])
    )
    check(refused.status_code == 422 and isinstance(refused.parsed, ErrorBody), f"{refused}")
    check(refused.parsed.error.details["step"] == "bad", f"{refused.parsed}")
    missing = get_workflow.sync_detailed(client=client, id=uuid.uuid4())
    check(missing.status_code == 404 and isinstance(missing.parsed, ErrorBody), f"{missing}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
