// Sends events to a Sentry server with the real JavaScript SDK (@sentry/node).
//
//     node send.mjs DSN [SCENARIO ...]
//
// DSN may also come from the SENTRY_DSN environment variable (then pass "-"
// or nothing as the first argument). SCENARIO names one of SCENARIOS below,
// or "all" (the default). Prints {"scenario": "event id", ...} as JSON on
// stdout and exits non-zero if the SDK failed to send anything (the server
// answered an error, the connection failed, the buffer overflowed) or a
// scenario misbehaved.
//
// Used by bins/sentry/tests/it/sdk_node.rs; install the SDK with
// scripts/install-sdks.sh.

import * as Sentry from "@sentry/node";

const RELEASE = "node-app@2.0.1";
const ENVIRONMENT = "staging";

// What the transport saw: the server's statuses, the ids of the events the
// server accepted, and failures.
const statuses = [];
const accepted = new Set();
const failures = [];

function checkedTransport(options) {
  const inner = Sentry.makeNodeTransport(options);
  return {
    send: async (envelope) => {
      try {
        const response = await inner.send(envelope);
        statuses.push(response.statusCode);
        const eventId = envelope[0]?.event_id;
        if (eventId && response.statusCode >= 200 && response.statusCode < 300) {
          accepted.add(eventId);
        }
        return response;
      } catch (e) {
        failures.push(`request failed: ${e}`);
        throw e;
      }
    },
    flush: (timeout) => inner.flush(timeout),
  };
}

// --- application code: nested named functions so the frames are this
// file's, in_app.

function divide(a, b) {
  if (b === 0) {
    throw new RangeError("division by zero");
  }
  return a / b;
}

function computeTotal(amount, parts) {
  return divide(amount, parts);
}

function checkout(amount) {
  return computeTotal(amount, 0);
}

function lookupSku(catalog) {
  return catalog.items.sku; // TypeError: Cannot read properties of undefined
}

function parseQuantity(text) {
  try {
    return JSON.parse(text);
  } catch (inner) {
    throw new Error("outer", { cause: inner });
  }
}

class PaymentError extends Error {
  constructor(message) {
    super(message);
    this.name = "PaymentError";
  }
}

function chargeCard() {
  throw new PaymentError("card declined");
}

function refundCard() {
  return null.refund(); // TypeError
}

function capture(fn, ...args) {
  try {
    fn(...args);
  } catch (e) {
    return Sentry.captureException(e);
  }
  throw new Error(`${fn.name} did not throw`);
}

function withFingerprint(fingerprint, fn, ...args) {
  return Sentry.withScope((scope) => {
    scope.setFingerprint(fingerprint);
    return capture(fn, ...args);
  });
}

// Two call sites for messages: @sentry/node attaches the stack of
// `captureMessage` (`attachStacktrace` is on by default) as a synthetic
// exception, and Sentry groups such events by that stack, not by the text.
function reportDeclinedPayment(text) {
  return Sentry.captureMessage(text, "warning");
}

function reportCacheWarmed(text) {
  return Sentry.captureMessage(text, "info");
}

// --- the scenarios: name -> [function, ...arguments]. Data rather than
// closures: a closure would be named after its key and add a frame that
// differs between otherwise identical events.
const SCENARIOS = {
  // The same exception from the same code path twice: one issue, count 2.
  error_same_1: [capture, checkout, 10],
  error_same_2: [capture, checkout, 20],
  // Another exception type from another function: another issue.
  error_other: [capture, lookupSku, {}],
  // `new Error(..., { cause })`: two exception values in one event.
  chained: [capture, parseQuantity, "many"],
  // Messages differing only in a number: one issue.
  message_1: [reportDeclinedPayment, "Payment 1234 declined"],
  message_2: [reportDeclinedPayment, "Payment 98765 declined"],
  message_info: [reportCacheWarmed, "Cache warmed"],
  // A custom fingerprint groups two different exceptions together.
  fingerprint_1: [withFingerprint, ["payment-provider-down"], chargeCard],
  fingerprint_2: [withFingerprint, ["payment-provider-down"], refundCard],
  // `{{ default }}` plus a value splits the default group per value.
  fingerprint_default_a: [withFingerprint, ["{{ default }}", "tenant-a"], checkout, 1],
  fingerprint_default_b: [withFingerprint, ["{{ default }}", "tenant-b"], checkout, 2],
};

async function main(argv) {
  const dsn = argv[0] && argv[0] !== "-" ? argv[0] : process.env.SENTRY_DSN;
  if (!dsn) {
    console.error("usage: send.mjs DSN [SCENARIO ...] (or SENTRY_DSN)");
    return 2;
  }
  let names = argv.slice(1);
  if (names.length === 0 || (names.length === 1 && names[0] === "all")) {
    names = Object.keys(SCENARIOS);
  }
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) {
    console.error(`unknown scenarios: ${unknown}; known: ${Object.keys(SCENARIOS)}`);
    return 2;
  }

  Sentry.init({
    dsn,
    release: RELEASE,
    environment: ENVIRONMENT,
    transport: checkedTransport,
    // The default Dedupe integration drops an event equal to the previous
    // one (same message and stack): `error_same_2` is meant to be one.
    integrations: (defaults) => defaults.filter((i) => i.name !== "Dedupe"),
    tracesSampleRate: 0,
  });

  // Scope data every event carries.
  Sentry.setTag("customer.tier", "gold");
  Sentry.setTag("feature", "checkout");
  Sentry.setUser({ id: "user-42", email: "jane@example.com", username: "jane" });
  Sentry.setContext("order", { id: "order-9", items: 3, total: 59.9 });
  Sentry.addBreadcrumb({
    category: "auth",
    message: "User jane logged in",
    level: "info",
    data: { method: "password" },
  });
  Sentry.addBreadcrumb({ category: "cart", message: "Added 3 items to cart", level: "info" });

  const ids = {};
  const failed = [];
  for (const name of names) {
    const [fn, ...args] = SCENARIOS[name];
    try {
      const id = fn(...args);
      if (!id) {
        failed.push(`${name}: the SDK returned no event id`);
      } else {
        ids[name] = id;
      }
    } catch (e) {
      failed.push(`${name}: ${e}`);
    }
  }

  if (!(await Sentry.flush(10000))) {
    failed.push("flush timed out");
  }
  await Sentry.close(5000);

  console.log(JSON.stringify(ids));
  failed.push(...failures);
  const bad = statuses.filter((s) => !(s >= 200 && s < 300));
  if (bad.length > 0) {
    failed.push(`the server answered ${bad}`);
  }
  for (const [name, id] of Object.entries(ids)) {
    if (!accepted.has(id)) {
      failed.push(`${name}: event ${id} was never accepted by the server (dropped by the SDK?)`);
    }
  }
  for (const f of failed) {
    console.error(`send.mjs: ${f}`);
  }
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
