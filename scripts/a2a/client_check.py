"""Drives the A2A gateway example with the official Python SDK (a2a-sdk 1.x, A2A 1.0) and checks what it gets.

Usage: python client_check.py BASE_URL TOKEN [BINDING]
BINDING is the protocol binding the client uses: JSONRPC (default) or HTTP+JSON.
Exits non-zero with the failed check on any mismatch.
"""
import asyncio
import sys
import uuid

import httpx
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.client.errors import A2AClientError
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
)

BASE, TOKEN = sys.argv[1], sys.argv[2]
BINDING = sys.argv[3] if len(sys.argv) > 3 else "JSONRPC"
CONTEXT = f"conv-py-{BINDING}"


def check(condition, what):
    if not condition:
        raise SystemExit(f"a2a check failed: {what}")
    print(f"ok ({BINDING}): {what}")


def user_message(text, context=None):
    return Message(
        role=Role.ROLE_USER,
        message_id=str(uuid.uuid4()),
        parts=[Part(text=text)],
        context_id=context or "",
    )


async def main():
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    card = await A2ACardResolver(http, BASE).get_agent_card()
    check([s.id for s in card.skills] == ["echo"], "the card offers the echo skill")
    check(card.supported_interfaces[0].protocol_version == "1.0", "the card speaks A2A 1.0")
    check(
        BINDING in [i.protocol_binding for i in card.supported_interfaces],
        f"the card offers the {BINDING} binding",
    )

    client = await create_client(card, client_config=ClientConfig(httpx_client=http, streaming=False, supported_protocol_bindings=[BINDING]))
    task = None
    async for event in client.send_message(SendMessageRequest(message=user_message("hello", CONTEXT))):
        task = event.task
    check(task is not None and task.status.state == TaskState.TASK_STATE_COMPLETED, "SendMessage completes")
    check(task.artifacts[0].parts[0].text == "hello", "the answer is the task's artifact")
    check(task.context_id == CONTEXT, "the context id is kept")

    streaming = await create_client(card, client_config=ClientConfig(httpx_client=http, streaming=True, supported_protocol_bindings=[BINDING]))
    kinds, final_state, streamed_text = [], None, None
    async for event in streaming.send_message(SendMessageRequest(message=user_message("streamed", CONTEXT + "-sse"))):
        kind = event.WhichOneof("payload")
        kinds.append(kind)
        if kind == "status_update":
            final_state = event.status_update.status.state
        if kind == "artifact_update":
            streamed_text = event.artifact_update.artifact.parts[0].text
    check(kinds[0] == "task", "a stream starts with the task")
    check(streamed_text == "streamed", "the answer streams as an artifact update")
    check(final_state == TaskState.TASK_STATE_COMPLETED, "the stream ends with the completed status")

    got = await client.get_task(GetTaskRequest(id=task.id))
    check(got.id == task.id and got.status.state == TaskState.TASK_STATE_COMPLETED, "GetTask finds it")
    listed = await client.list_tasks(ListTasksRequest(page_size=10, context_id=CONTEXT))
    check([t.id for t in listed.tasks] == [task.id], "ListTasks by context")
    try:
        await client.cancel_task(CancelTaskRequest(id=task.id))
        check(False, "a finished task cannot be cancelled")
    except TaskNotCancelableError:
        check(True, "a finished task cannot be cancelled (TaskNotCancelableError)")
    try:
        await client.get_task(GetTaskRequest(id="no-such-task"))
        check(False, "an unknown task is an error")
    except TaskNotFoundError:
        check(True, "an unknown task is TaskNotFoundError")
    await http.aclose()

    stranger = httpx.AsyncClient(timeout=60)
    anonymous = await create_client(card, client_config=ClientConfig(httpx_client=stranger, streaming=False, supported_protocol_bindings=[BINDING]))
    try:
        async for _ in anonymous.send_message(SendMessageRequest(message=user_message("hi"))):
            pass
        check(False, "a client without the token is refused")
    except A2AClientError:
        check(True, "a client without the token is refused")
    await stranger.aclose()


asyncio.run(main())
