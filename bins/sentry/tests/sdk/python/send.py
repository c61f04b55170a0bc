"""Sends events to a Sentry server with the real Python SDK (sentry-sdk).

    python send.py DSN [SCENARIO ...]

DSN may also come from the SENTRY_DSN environment variable (then pass "-" or
nothing as the first argument). `send.py DSN --discard N` instead captures N
messages that `before_send` drops, for the SDK's client report. SCENARIO names one of SCENARIOS below, or
"all" (the default). Prints {"scenario": "event id", ...} as JSON on stdout and
exits non-zero if the SDK failed to send anything (the server answered an
error, the connection failed, the queue overflowed) or a scenario raised.

Used by bins/sentry/tests/it/sdk_python.rs; install the SDK with
scripts/install-sdks.sh.
"""

import json
import os
import sys

import sentry_sdk
from sentry_sdk.transport import HttpTransport

RELEASE = "python-app@1.2.3"
ENVIRONMENT = "staging"

# Reasons the transport gave for events it dropped. Every failure path of
# the HTTP transport (network error, 4xx/5xx, 413, 429, full queue) goes
# through `on_dropped_event`.
DROPPED = []
# HTTP statuses the server answered, and the ids of the events it accepted.
STATUSES = []
ACCEPTED = set()


class CheckedTransport(HttpTransport):
    def on_dropped_event(self, reason):
        DROPPED.append(reason)
        super().on_dropped_event(reason)

    def _handle_response(self, response, envelope):
        STATUSES.append(response.status)
        event_id = envelope.headers.get("event_id") if envelope is not None else None
        if event_id and 200 <= response.status < 300:
            ACCEPTED.add(event_id)
        return super()._handle_response(response=response, envelope=envelope)


# --- application code: nested functions so the frames are this file's, in_app.


def divide(a, b):
    return a / b


def compute_total(amount, parts):
    return divide(amount, parts)


def checkout(amount):
    return compute_total(amount, 0)


def lookup_sku(catalog):
    return catalog["sku-42"]


def parse_quantity(text):
    try:
        return int(text)
    except ValueError as inner:
        raise RuntimeError("outer") from inner


def charge_card():
    return None + 1  # TypeError


def refund_card():
    return None.refund()  # AttributeError


def capture(fn, *args):
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - the point is to capture it
        return sentry_sdk.capture_exception(e)
    raise AssertionError(f"{fn.__name__} did not raise")


def with_fingerprint(fingerprint, fn, *args):
    with sentry_sdk.new_scope() as scope:
        scope.fingerprint = fingerprint
        return capture(fn, *args)


# --- the scenarios: name -> function returning the event id.

SCENARIOS = {
    # The same exception from the same code path twice: one issue, count 2.
    "error_same_1": lambda: capture(checkout, 10),
    "error_same_2": lambda: capture(checkout, 20),
    # Another exception type from another function: another issue.
    "error_other": lambda: capture(lookup_sku, {}),
    # `raise X from Y`: two exception values in one event.
    "chained": lambda: capture(parse_quantity, "many"),
    # Messages differing only in a number: one issue.
    "message_1": lambda: sentry_sdk.capture_message("Payment 1234 declined", level="warning"),
    "message_2": lambda: sentry_sdk.capture_message("Payment 98765 declined", level="warning"),
    "message_info": lambda: sentry_sdk.capture_message("Cache warmed", level="info"),
    # A custom fingerprint groups two different exceptions together.
    "fingerprint_1": lambda: with_fingerprint(["payment-provider-down"], charge_card),
    "fingerprint_2": lambda: with_fingerprint(["payment-provider-down"], refund_card),
    # `{{ default }}` plus a value splits the default group per value.
    "fingerprint_default_a": lambda: with_fingerprint(["{{ default }}", "tenant-a"], checkout, 1),
    "fingerprint_default_b": lambda: with_fingerprint(["{{ default }}", "tenant-b"], checkout, 2),
}


def discard(dsn, count):
    """Captures `count` messages that `before_send` drops: the SDK counts
    them and reports them in a client report when it flushes."""
    sentry_sdk.init(dsn=dsn, transport=CheckedTransport, before_send=lambda event, hint: None)
    for i in range(count):
        sentry_sdk.capture_message(f"dropped {i}")
    client = sentry_sdk.get_client()
    client.flush(timeout=10)
    client.close(timeout=10)
    print(json.dumps({"discarded": count, "statuses": STATUSES}))
    bad = [s for s in STATUSES if not 200 <= s < 300]
    if bad or not STATUSES:
        print(f"the client report was not accepted: statuses {STATUSES}", file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) == 4 and argv[2] == "--discard":
        return discard(argv[1], int(argv[3]))
    dsn = argv[1] if len(argv) > 1 and argv[1] != "-" else os.environ.get("SENTRY_DSN")
    if not dsn:
        print("usage: send.py DSN [SCENARIO ...] (or SENTRY_DSN)", file=sys.stderr)
        return 2
    names = argv[2:] or ["all"]
    if names == ["all"]:
        names = list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2

    sentry_sdk.init(
        dsn=dsn,
        release=RELEASE,
        environment=ENVIRONMENT,
        transport=CheckedTransport,
        # Frames of this directory are the application's.
        project_root=os.path.dirname(os.path.abspath(__file__)),
    )

    # Scope data every event carries.
    sentry_sdk.set_tag("customer.tier", "gold")
    sentry_sdk.set_tag("feature", "checkout")
    sentry_sdk.set_user({"id": "user-42", "email": "jane@example.com", "username": "jane"})
    sentry_sdk.set_context("order", {"id": "order-9", "items": 3, "total": 59.9})
    sentry_sdk.add_breadcrumb(
        category="auth", message="User jane logged in", level="info", data={"method": "password"}
    )
    sentry_sdk.add_breadcrumb(category="cart", message="Added 3 items to cart", level="info")

    ids = {}
    failed = []
    for name in names:
        try:
            event_id = SCENARIOS[name]()
        except Exception as e:  # noqa: BLE001
            failed.append(f"{name}: {e!r}")
            continue
        if not event_id:
            failed.append(f"{name}: the SDK returned no event id (event dropped)")
            continue
        ids[name] = event_id

    client = sentry_sdk.get_client()
    client.flush(timeout=10)
    client.close(timeout=10)

    print(json.dumps(ids))
    if DROPPED:
        failed.append(f"the transport dropped events: {DROPPED} (statuses {STATUSES})")
    bad = [s for s in STATUSES if not 200 <= s < 300]
    if bad:
        failed.append(f"the server answered {bad}")
    for name, event_id in ids.items():
        if event_id not in ACCEPTED:
            failed.append(f"{name}: event {event_id} was never accepted by the server")
    if failed:
        for f in failed:
            print(f"send.py: {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
