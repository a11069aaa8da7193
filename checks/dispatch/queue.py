"""The fleet queue (an Azure Storage queue): build its client once, enqueue messages.

In Azure the app reaches the queue with its managed identity: `FleetQueue__queueServiceUri` is the
queue service URL of the journal account, the same setting the queue trigger's connection
(`connection="FleetQueue"` in function_app.py) reads. Locally `FleetQueue` may be a connection
string; without either, the journal's connection string (AzureWebJobsStorage: Azurite's queue
endpoint) is used. Bodies are base64 text: the Functions queue trigger decodes base64 by default
(host.json `extensions.queues.messageEncoding`). The queues themselves are created by the
infrastructure (infra/modules/storage.bicep) or, locally, by devtools: the app only sends messages
(Storage Queue Data Message Sender), it never creates or deletes a queue.
"""
from __future__ import annotations

from typing import Any, Iterable

from checks.dispatch.message import FleetMessage
from checks.engine.i18n import msg
from checks.engine.redact import redact

POISON_SUFFIX = "-poison"  # the Functions host's poison queue: <queue>-poison


class DispatchError(Exception):
    """The fleet queue could not be reached or written; `enqueued` lists what was sent before."""

    def __init__(self, message: str, enqueued: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.enqueued = enqueued or []


def queue_client(settings: Any, queue_name: str | None = None, credential: Any = None, **kwargs: Any) -> Any:
    """A QueueClient on the fleet queue (or `queue_name`), base64 text bodies both ways."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy  # lazy: cold start

    name = queue_name or settings.fleet_queue
    policies = {"message_encode_policy": TextBase64EncodePolicy(),
                "message_decode_policy": TextBase64DecodePolicy(), **kwargs}
    if settings.fleet_queue_service_uri:
        if credential is None:
            from azure.identity import DefaultAzureCredential
            credential = DefaultAzureCredential()
        return QueueClient(settings.fleet_queue_service_uri, name, credential=credential, **policies)
    connection = settings.fleet_queue_connection_string or settings.journal_connection_string
    if connection:
        return QueueClient.from_connection_string(connection, name, **policies)
    raise DispatchError(msg("fleet queue not configured: set FleetQueue__queueServiceUri (managed identity) "
                            "or FleetQueue / AzureWebJobsStorage (connection string)"))


def enqueue(settings: Any, messages: Iterable[FleetMessage], client: Any = None,
            visible_in: int | None = None) -> list[dict[str, Any]]:
    """Send each message (hidden for `visible_in` seconds when given); [{"target", "attempt", "month",
    "message_id"}]. DispatchError on failure."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

    client = client or queue_client(settings)
    sent: list[dict[str, Any]] = []
    for message in messages:
        try:
            answer = client.send_message(message.to_json(), visibility_timeout=visible_in)
        except ResourceNotFoundError:
            raise DispatchError(msg("fleet queue {queue} does not exist: deploy infra/ (storage.bicep creates it) "
                                    "or, locally, `python -m devtools.stack start`", queue=repr(client.queue_name)),
                                sent) from None
        except (ClientAuthenticationError, HttpResponseError) as exc:
            status = getattr(exc, "status_code", None)
            queue, reason = repr(client.queue_name), _first_line(exc)
            text = (msg("fleet queue {queue}: {reason}; grant Storage Queue Data Message Sender on the queue",
                        queue=queue, reason=reason) if status == 403 else
                    msg("fleet queue {queue}: {reason}", queue=queue, reason=reason))
            raise DispatchError(text, sent) from None
        except AzureError as exc:
            raise DispatchError(msg("fleet queue {queue} unreachable: {reason}", queue=repr(client.queue_name),
                                    reason=_first_line(exc)), sent) from None
        sent.append({"target": message.target, "attempt": message.attempt, "month": message.month,
                     "message_id": answer.id})
    return sent


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)
