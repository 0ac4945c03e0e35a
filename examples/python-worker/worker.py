"""A lockstep worker in Python: runs the tasks of one queue and reports each outcome.

Run it:  python worker.py --queue payments            (brokers from KAFKA_BROKERS, prefix from LOCKSTEP_TOPIC_PREFIX)

What it guarantees, as lockstep's own workers do:
- at least once: a dispatch's offset is committed only after its outcome (task.succeeded or task.failed) was
  delivered to the events topic (flush, then the delivery report checked); a worker that dies mid-task loses
  nothing, and the next one runs the attempt again with the same idempotency key;
- an exception in a handler becomes task.failed with payload.error {message, retriable, type}: TaskError says
  retriable itself, ValueError (a business error: bad input, a declined card) is not retriable, any other
  exception is (a timeout, a connection error); the task's retry policy then applies;
- a handler is chosen by the dispatch's taskId and payload.phase (main, compensate, finally): a compensation of
  `charge` has taskId `charge.compensate` and phase `compensate`, and never runs `charge` again;
- task.cancel sets the running attempt's ctx.cancelled (a long handler checks it); a dispatch whose attempt was
  cancelled before it started is not run and is reported failed at once;
- SIGTERM or SIGINT: no new task starts, the running one gets --grace seconds to finish and report, then the
  consumer is closed, so the group hands its partitions to the next worker at once (not after the session timeout).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer


class TaskError(Exception):
    """A failure that says whether retrying can help, and optionally a code."""

    def __init__(self, message: str, retriable: bool = True, code: Optional[str] = None):
        super().__init__(message)
        self.retriable = retriable
        self.code = code


class Cancelled(TaskError):
    """Raised by a handler that stopped because its attempt was cancelled."""

    def __init__(self, reason: str):
        super().__init__(f"cancelled: {reason}", retriable=False, code="TASK_CANCELLED")


@dataclass
class TaskContext:
    """What a handler gets: the dispatch's fields, and a flag set when lockstep cancels the attempt."""

    run_id: str
    task_id: str
    attempt: int
    phase: str
    input: Any
    results: Dict[str, Any]
    idempotency_key: str
    timeout_ms: Optional[int]
    # W3C traceparent of the attempt's span (payload.traceparent), when the run is traced: send it on as the
    # traceparent header of the calls the handler makes, so their spans join the run's trace.
    traceparent: Optional[str] = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""

    def check_cancelled(self) -> None:
        """Raises Cancelled once the attempt has been cancelled."""
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason)


Handler = Callable[[TaskContext], Any]


class Registry:
    """Handlers by (taskId, phase)."""

    def __init__(self) -> None:
        self._handlers: Dict[Tuple[str, str], Handler] = {}

    def handler(self, task_id: str, phase: str = "main") -> Callable[[Handler], Handler]:
        if phase not in ("main", "compensate", "finally"):
            raise ValueError(f"phase must be main, compensate or finally, got {phase!r}")

        def register(fn: Handler) -> Handler:
            self._handlers[(task_id, phase)] = fn
            return fn

        return register

    def find(self, task_id: str, phase: str) -> Optional[Handler]:
        return self._handlers.get((task_id, phase))


def error_of(exc: BaseException) -> Dict[str, Any]:
    """payload.error of task.failed for an exception."""
    if isinstance(exc, TaskError):
        retriable = exc.retriable
    else:
        retriable = not isinstance(exc, ValueError)
    error: Dict[str, Any] = {"message": str(exc) or type(exc).__name__, "retriable": retriable, "type": type(exc).__name__}
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        error["code"] = code
    return error


def well_formed(envelope: Any) -> bool:
    """True for a task.dispatch or task.cancel with the fields this worker reads (see schemas/ in lockstep)."""
    if not isinstance(envelope, dict) or envelope.get("v") != 1 or envelope.get("type") not in ("task.dispatch", "task.cancel"):
        return False
    if not all(isinstance(envelope.get(k), str) for k in ("id", "runId", "taskId")) or not isinstance(envelope.get("attempt"), int):
        return False
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        return False
    return envelope["type"] == "task.cancel" or (
        payload.get("phase") in ("main", "compensate", "finally") and isinstance(payload.get("idempotencyKey"), str)
    )


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def log(message: str, **extra: Any) -> None:
    print(json.dumps({"worker": message, **extra}), file=sys.stderr, flush=True)


class Worker:
    """Consumes <prefix>.commands.<queue>, runs each dispatch's handler on a thread, reports to <prefix>.events."""

    # Waits between attempts to deliver an outcome the brokers did not take.
    RETRY_MIN_S, RETRY_MAX_S = 0.1, 2.0
    # Dispatches read ahead while a task runs (the consumer keeps polling for task.cancel) before pausing.
    READ_AHEAD = 100
    # Outcomes remembered by idempotency key: a redelivered dispatch gets its outcome again, not a second run.
    COMPLETED_MEMORY = 10_000

    def __init__(self, registry: Registry, brokers: str, prefix: str, queue: str, group: Optional[str] = None, grace_s: float = 10.0):
        self.registry = registry
        self.events_topic = f"{prefix}.events"
        self.commands_topic = f"{prefix}.commands.{queue}"
        self.grace_s = grace_s
        self.consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": group or f"lockstep-workers-{queue}",
                # Dispatches are written in the orchestrators' transactions: read only committed ones.
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # A worker that dies without closing its consumer holds its partitions this long (librdkafka: 45 s).
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
            }
        )
        self.producer = Producer(
            {
                "bootstrap.servers": brokers,
                # The partitioner of every lockstep process (Java's default): a run's events share one partition.
                "partitioner": "murmur2_random",
                "enable.idempotence": True,
                "acks": "all",
            }
        )
        self.stopping = threading.Event()
        self.pending: collections.deque = collections.deque()  # consumed messages, in order, not yet committed
        self.cancelled: "collections.OrderedDict[str, str]" = collections.OrderedDict()  # attempt key -> reason
        self.completed: "collections.OrderedDict[str, bytes]" = collections.OrderedDict()  # idempotency key -> outcome
        self.running: Optional[Tuple[Any, TaskContext, threading.Thread, Dict[str, Any]]] = None
        self.paused = False

    # -- consuming -------------------------------------------------------------------------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list) -> None:
        # Another worker takes these partitions from their committed offsets: what was read ahead here is dropped.
        gone = {(p.topic, p.partition) for p in partitions}
        self.pending = collections.deque(m for m in self.pending if (m.topic(), m.partition()) not in gone)

    def _read(self, timeout: float) -> None:
        msg = self.consumer.poll(timeout)
        if msg is None:
            return
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                log("consumer error", error=str(msg.error()))
            return
        try:
            envelope = json.loads(msg.value())
        except (TypeError, ValueError):
            envelope = None
        if not well_formed(envelope):
            log("not a lockstep command: skipped", partition=msg.partition(), offset=msg.offset())
            envelope = None
        elif envelope["type"] == "task.cancel":
            key = f"{envelope['runId']}:{envelope['taskId']}:{envelope['attempt']}"
            reason = str(envelope["payload"].get("reason", "cancelled"))
            self.cancelled[key] = reason
            while len(self.cancelled) > self.COMPLETED_MEMORY:
                self.cancelled.popitem(last=False)
            if self.running and self.running[1].idempotency_key == key:
                self.running[1].cancel_reason = reason
                self.running[1].cancelled.set()
                log("cancel", attempt=key, reason=reason)
        self.pending.append((msg, envelope))
        if len(self.pending) >= self.READ_AHEAD and not self.paused:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True

    # -- running ---------------------------------------------------------------------------------------------------

    def _start(self, msg: Any, task: Dict[str, Any]) -> None:
        payload = task["payload"]
        ctx = TaskContext(
            run_id=task["runId"],
            task_id=task["taskId"],
            attempt=task["attempt"],
            phase=payload["phase"],
            input=payload.get("input"),
            results=payload.get("results", {}),
            idempotency_key=payload["idempotencyKey"],
            timeout_ms=payload.get("timeoutMs"),
            traceparent=payload.get("traceparent"),
        )
        outcome: Dict[str, Any] = {}

        def work() -> None:
            handler = self.registry.find(ctx.task_id, ctx.phase)
            try:
                if handler is None:
                    raise TaskError(f"no handler for task {ctx.task_id!r} in phase {ctx.phase!r} here", retriable=False, code="NO_HANDLER")
                result = handler(ctx)
                outcome["message"] = self._outcome(task, "task.succeeded", {} if result is None else {"result": result})
            except BaseException as exc:  # every failure is reported (SystemExit too); the run's policy decides what next
                outcome["message"] = self._outcome(task, "task.failed", {"error": error_of(exc)})

        thread = threading.Thread(target=work, name=f"task {ctx.idempotency_key}", daemon=True)
        self.running = (msg, ctx, thread, outcome)
        thread.start()

    def _outcome(self, task: Dict[str, Any], kind: str, payload: Dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "type": kind,
                "id": str(uuid.uuid4()),
                "runId": task["runId"],
                "taskId": task["taskId"],
                "attempt": task["attempt"],
                "time": now_iso(),
                "causationId": task["id"],
                "payload": payload,
            }
        ).encode()

    def _deliver(self, run_id: str, value: bytes) -> bool:
        """Produces the outcome until the brokers acknowledge it; False when it cannot be delivered (stopping)."""
        delay = self.RETRY_MIN_S
        while True:
            report: Dict[str, Any] = {}
            try:
                self.producer.produce(self.events_topic, key=run_id.encode(), value=value, on_delivery=lambda err, _m: report.update(err=err, done=True))
                self.producer.flush(30)
            except (BufferError, KafkaException) as exc:
                report.update(err=exc, done=True)
            err = report.get("err")
            if report.get("done") and err is None:
                return True
            if isinstance(err, KafkaError) and not err.retriable() and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                raise TaskError(f"its outcome could not be published: {err.str()}", retriable=False, code="RECORD_TOO_LARGE")
            log("outcome not delivered yet", runId=run_id, error=str(err or "no delivery report"))
            if self.stopping.is_set():
                return False
            time.sleep(delay)
            delay = min(delay * 2, self.RETRY_MAX_S)

    def _commit(self, msg: Any) -> None:
        try:
            self.consumer.commit(message=msg, asynchronous=False)
        except KafkaException as exc:
            # The partition moved to another worker: it runs the attempt again (same idempotency key).
            log("commit failed", error=str(exc))

    def _finish(self) -> bool:
        """Reports the finished task, then commits its dispatch. False when its outcome could not be delivered."""
        msg, ctx, _thread, outcome = self.running
        self.running = None
        try:
            delivered = self._deliver(ctx.run_id, outcome["message"])
        except TaskError as exc:
            outcome["message"] = self._outcome(json.loads(msg.value()), "task.failed", {"error": error_of(exc)})
            delivered = self._deliver(ctx.run_id, outcome["message"])
        if not delivered:
            return False
        self.completed[ctx.idempotency_key] = outcome["message"]
        while len(self.completed) > self.COMPLETED_MEMORY:
            self.completed.popitem(last=False)
        self._commit(msg)
        return True

    def _next(self) -> None:
        """Takes the oldest consumed message: runs a dispatch, or commits what needs no work."""
        msg, envelope = self.pending.popleft()
        if self.paused and len(self.pending) < self.READ_AHEAD // 2:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False
        if not isinstance(envelope, dict) or envelope.get("type") != "task.dispatch":
            self._commit(msg)  # a task.cancel (already applied) or a record this worker does not read
            return
        key = envelope["payload"]["idempotencyKey"]
        earlier = self.completed.get(key)
        if earlier is not None:
            # Delivered again (a rebalance): its outcome once more, not a second execution.
            if self._deliver(envelope["runId"], earlier):
                self._commit(msg)
            return
        if key in self.cancelled:
            failed = self._outcome(envelope, "task.failed", {"error": error_of(Cancelled(f"before it started: {self.cancelled[key]}"))})
            if self._deliver(envelope["runId"], failed):
                self._commit(msg)
            return
        self._start(msg, envelope)

    def run(self) -> None:
        self.consumer.subscribe([self.commands_topic], on_revoke=self._on_revoke)
        log("started", topic=self.commands_topic)
        deadline: Optional[float] = None
        try:
            while True:
                if self.running:
                    _msg, ctx, thread, _outcome = self.running
                    thread.join(0.05)
                    if not thread.is_alive():
                        if not self._finish():
                            break
                        continue
                    if self.stopping.is_set():
                        deadline = deadline or time.monotonic() + self.grace_s
                        if time.monotonic() > deadline:
                            # Not reported, not committed: the next worker of the queue runs the attempt again.
                            log("grace ran out: attempt handed back", attempt=ctx.idempotency_key)
                            break
                    self._read(0.05)  # keeps the group membership alive and hears task.cancel
                elif self.stopping.is_set():
                    break
                elif self.pending:
                    self._next()
                else:
                    self._read(0.5)
        finally:
            # Leaves the group now: its partitions go to the next worker at once, not after the session timeout.
            self.consumer.close()
            self.producer.flush(10)
            log("stopped")

    def stop(self, *_args: Any) -> None:
        self.stopping.set()


# -- an example service: charge a card, refund it, ship the parcel -----------------------------------------------

registry = Registry()
LEDGER = os.environ.get("PAYMENTS_LEDGER", "ledger.jsonl")


def record(effect: str, ctx: TaskContext, **extra: Any) -> None:
    """Appends one side effect to the ledger (a stand-in for a payment provider)."""
    with open(LEDGER, "a", encoding="utf-8") as f:
        f.write(json.dumps({"effect": effect, "runId": ctx.run_id, "taskId": ctx.task_id, "phase": ctx.phase, "attempt": ctx.attempt, "idempotencyKey": ctx.idempotency_key, **extra}) + "\n")


def charged(idempotency_key: str) -> Optional[Dict[str, Any]]:
    if not os.path.exists(LEDGER):
        return None
    with open(LEDGER, encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if entry["effect"] == "charge" and entry["idempotencyKey"] == idempotency_key:
                return entry
    return None


@registry.handler("charge")
def charge(ctx: TaskContext) -> Dict[str, Any]:
    order = ctx.input or {}
    if order.get("card") == "declined":
        raise ValueError("card declined")  # a business error: retrying cannot help
    earlier = charged(ctx.idempotency_key)  # a redelivered attempt charges once
    if earlier:
        return {"chargeId": earlier["chargeId"]}
    charge_id = f"ch-{uuid.uuid4().hex[:12]}"
    record("charge", ctx, chargeId=charge_id, amount=order.get("amount"))
    return {"chargeId": charge_id}


@registry.handler("charge.compensate", phase="compensate")
def refund(ctx: TaskContext) -> Dict[str, Any]:
    charge_id = ctx.results["charge"]["chargeId"]
    record("refund", ctx, chargeId=charge_id)
    return {"refunded": charge_id}


@registry.handler("ship")
def ship(ctx: TaskContext) -> Dict[str, Any]:
    order = ctx.input or {}
    if not order.get("address"):
        raise ValueError("no shipping address")
    if order.get("carrierDown") and ctx.attempt == 1:
        raise ConnectionError("carrier unreachable")  # retriable: attempt 2 may get through
    record("ship-started", ctx)
    packing_until = time.monotonic() + float(order.get("packingMs", 0)) / 1000
    while time.monotonic() < packing_until:
        ctx.check_cancelled()
        time.sleep(0.05)
    record("ship", ctx)
    return {"tracking": f"TR-{ctx.run_id[:8]}"}


def main() -> None:
    parser = argparse.ArgumentParser(description="A lockstep worker for one queue.")
    parser.add_argument("--brokers", default=os.environ.get("KAFKA_BROKERS", "localhost:19092"))
    parser.add_argument("--prefix", default=os.environ.get("LOCKSTEP_TOPIC_PREFIX", "lockstep"))
    parser.add_argument("--queue", default="payments")
    parser.add_argument("--group", default=None, help="consumer group (default lockstep-workers-<queue>)")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds a running task gets after SIGTERM")
    args = parser.parse_args()
    worker = Worker(registry, args.brokers, args.prefix, args.queue, args.group, args.grace)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()


if __name__ == "__main__":
    main()
