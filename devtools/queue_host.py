"""A local stand-in for the Functions host's queue trigger, for the tests and the bench (never deployed).

What the host does with a queue-triggered function (Azure Functions queue trigger docs): get up to
`batch_size` messages with a visibility timeout, call the function with the message's text and
dequeue count, delete the message when the function returns; when it raises, make the message
visible again after `visibility_timeout` seconds, or, once the message was delivered
`max_dequeue_count` times, move it to `<queue>-poison`. Real Azurite queues underneath.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

Function = Callable[[str, int], Any]  # (message text, dequeue count)


@dataclass
class LocalQueueHost:
    connection_string: str
    queue_name: str
    max_dequeue_count: int = 5
    visibility_timeout: int = 30   # seconds a message is hidden while one worker has it
    retry_after: int = 0           # seconds before a failed message is visible again (host.json visibilityTimeout)
    batch_size: int = 1            # one worker = one concurrent execution (messages taken at a time)
    errors: list[str] = field(default_factory=list)
    deliveries: list[float] = field(default_factory=list)  # seconds from the receive to the delete, per message

    def client(self, name: str | None = None) -> Any:
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy
        return QueueClient.from_connection_string(self.connection_string, name or self.queue_name,
                                                  message_encode_policy=TextBase64EncodePolicy(),
                                                  message_decode_policy=TextBase64DecodePolicy())

    def create_queues(self) -> None:
        from azure.core.exceptions import ResourceExistsError
        for name in (self.queue_name, self.queue_name + "-poison"):
            try:
                self.client(name).create_queue()
            except ResourceExistsError:
                pass

    def pump(self, function: Function, client: Any = None, poison: Any = None) -> int:
        """One batch: deliver what is visible now, one after the other; the number of messages delivered."""
        client, poison = client or self.client(), poison or self.client(self.queue_name + "-poison")
        started, delivered = time.perf_counter(), 0
        for message in self._receive(client, self.batch_size):
            delivered += 1
            self._deliver(function, client, poison, message, started)
        return delivered

    def serve(self, function: Function, concurrency: int, new_batch_threshold: int, idle_rounds: int = 2) -> int:
        """One instance, as the host runs a queue trigger (host.json batchSize, newBatchThreshold): get a batch,
        run its messages at once, get the next batch when no more than `new_batch_threshold` are still running,
        never more than `concurrency` at a time. Returns when the queue stayed empty and nothing runs."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        client, poison = self.client(), self.client(self.queue_name + "-poison")
        running: set = set()
        delivered = idle = 0
        with ThreadPoolExecutor(concurrency, thread_name_prefix="queue-execution") as pool:
            while running or idle < idle_rounds:
                if len(running) <= new_batch_threshold and idle < idle_rounds:
                    started = time.perf_counter()
                    batch = self._receive(client, concurrency - len(running))
                    idle = 0 if batch else idle + 1
                    delivered += len(batch)
                    running |= {pool.submit(self._deliver, function, client, poison, m, started) for m in batch}
                    if batch or not running:
                        continue
                running = wait(running, return_when=FIRST_COMPLETED)[1]
        return delivered

    def _receive(self, client: Any, count: int) -> list:
        return list(client.receive_messages(messages_per_page=count, visibility_timeout=self.visibility_timeout,
                                            max_messages=count))

    def _deliver(self, function: Function, client: Any, poison: Any, message: Any, started: float) -> None:
        """Call the function; delete the message, or make it visible again, or move it to the poison queue."""
        try:
            function(message.content, message.dequeue_count)
        except Exception as exc:  # the host catches whatever the function raises
            self.errors.append(f"{type(exc).__name__}: {exc}")
            if message.dequeue_count >= self.max_dequeue_count:
                poison.send_message(message.content)
                client.delete_message(message)
            else:
                client.update_message(message, visibility_timeout=self.retry_after)
            return
        client.delete_message(message)
        self.deliveries.append(time.perf_counter() - started)

    def drain(self, function: Function, workers: int = 1, idle_rounds: int = 2) -> int:
        """Deliver until the queue stays empty, with `workers` concurrent pollers (the host's scale-out)."""
        counts = [0] * workers

        def worker(index: int) -> None:
            client, poison, idle = self.client(), self.client(self.queue_name + "-poison"), 0
            while idle < idle_rounds:
                got = self.pump(function, client, poison)
                counts[index] += got
                idle = 0 if got else idle + 1

        threads = [threading.Thread(target=worker, args=(i,), name=f"queue-worker-{i}") for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counts)
