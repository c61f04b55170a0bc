#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (called by run.sh).

usage: seeds.py FIXTURES_DIR CORPUS_DIR TARGET...

Seeds come from the real-SDK fixtures (sentry-envelope/fixtures/*/*.body and
their .json metadata) plus a few hand-written inputs. Only the Python standard
library is used, so brotli bodies are seeded compressed (decompress target)
but not decoded (envelope target). Seed files are named `seed-*` and are
rewritten on every run; what libFuzzer adds to the corpus is left alone.
"""

import base64
import glob
import gzip
import json
import os
import sys
import zlib

# The order of ContentEncoding in fuzz_targets/decompress.rs.
SELECTOR = {None: 0, "identity": 0, "gzip": 1, "deflate": 2, "br": 3, "zstd": 4}

DSN = "http://e12d836b15bb49d7bbf99e64295d995b@127.0.0.1:9000/42"
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"


def load_fixtures(fixtures_dir):
    """Yields (name, metadata, raw body) of every captured request."""
    for body_path in sorted(glob.glob(os.path.join(fixtures_dir, "*", "*.body"))):
        meta_path = body_path[: -len(".body")] + ".json"
        try:
            with open(meta_path) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            meta = {}
        with open(body_path, "rb") as f:
            body = f.read()
        sdk = os.path.basename(os.path.dirname(body_path))
        scenario = os.path.basename(body_path)[: -len(".body")]
        yield f"{sdk}-{scenario}", meta, body


def encoding_of(meta):
    enc = (meta.get("headers") or {}).get("content-encoding")
    return enc.strip().lower() if enc else None


def decode(meta, body):
    """The body with its Content-Encoding removed, or None (brotli)."""
    enc = encoding_of(meta)
    if enc in (None, "identity"):
        return body
    if enc in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if enc == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -15)
    return None


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def zstd_frames(data):
    """Hand-built zstd frames (the stdlib has no zstd): raw and RLE blocks."""
    magic = b"\x28\xb5\x2f\xfd"
    data = data[:200]
    # Single segment, 1-byte content size, no checksum; one raw last block.
    raw = magic + bytes([0x20, len(data)]) + (1 | (len(data) << 3)).to_bytes(3, "little") + data
    # The same with an RLE block: 50 times "a".
    rle = magic + bytes([0x20, 50]) + (1 | (1 << 1) | (50 << 3)).to_bytes(3, "little") + b"a"
    return [raw, rle, raw + rle]


HAND_ENVELOPES = [
    b"{}",
    b"{}\n",
    b'{"event_id":"%s","dsn":"%s"}\n{"type":"event","length":41,"content_type":"application/json"}\n{"message":"hello world","level":"error"}\n{"type":"attachment","length":6,"filename":"app.log"}\nHello\n\n'
    % (EVENT_ID.encode(), DSN.encode()),
    b'{"event_id":"%s"}\n{"type":"transaction","span_count":3}\n{"type":"transaction","transaction":"/x","start_timestamp":1700000000.5,"timestamp":"2023-11-14T22:13:20.5Z","spans":[{"span_id":"a","op":"db"}],"contexts":{"trace":{"trace_id":"t","span_id":"s"}}}\n'
    % EVENT_ID.encode(),
    b'{}\n{"type":"session"}\n{"sid":"8333339f-5675-4f89-a9a0-1c935255ab58","init":true,"started":"2020-02-07T14:16:00Z","status":"exited","errors":1,"attrs":{"release":"app@1.0","environment":"production"}}\n',
    b'{}\n{"type":"sessions"}\n{"aggregates":[{"started":"2020-02-07T14:16:00Z","exited":2,"errored":1}],"attrs":{"release":"app@1.0"}}\n',
    b'{}\n{"type":"check_in"}\n{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"nightly","status":"in_progress","monitor_config":{"schedule":{"type":"crontab","value":"0 0 * * *"},"checkin_margin":5}}\n',
    b'{}\n{"type":"client_report"}\n{"timestamp":1700000000,"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":3}]}\n',
    b'{"event_id":"%s"}\n{"type":"user_report"}\n{"event_id":"%s","name":"a","email":"a@b.c","comments":"it broke"}\n'
    % (EVENT_ID.encode(), EVENT_ID.encode()),
    b'{}\n{"type":"log","item_count":1,"content_type":"application/vnd.sentry.items.log+json"}\n{"items":[{"timestamp":1700000000.25,"level":"warn","body":"disk almost full","attributes":{"sentry.release":{"value":"1.0","type":"string"}}}]}\n',
    b'{"event_id":"%s"}\n{"type":"event"}\n{"exception":[{"type":"ValueError","value":"bad","stacktrace":{"frames":[{"function":"f","lineno":1,"in_app":true}]}}],"tags":[["a","1"],["b",2]],"fingerprint":["{{ default }}",1,true,null],"message":{"message":"m %%s","params":["x"]},"level":"warn","threads":{"values":[{"id":1,"crashed":true}]},"breadcrumbs":[null,{"timestamp":"2023-11-14T22:13:20","category":"ui.click"}],"user":{"id":7},"extra":{"k":[1.5,-2,1e300]}}\n'
    % EVENT_ID.encode(),
    b'{}\n{"type":"profile_chunk","platform":"cocoa","length":2}\n{}\n{"type":"replay_recording","length":3}\n\x00\x01\n\n{"type":"mystery","x_custom":[1,{"a":null}]}\n\r\n',
    b'{"event_id":"%s"}\n{"type":"attachment","attachment_type":"event.minidump","filename":"m.dmp","length":4}\nMDMP\n{"type":"feedback"}\n{"contexts":{"feedback":{"message":"hi","contact_email":"a@b.c"}}}\n'
    % EVENT_ID.encode(),
]

HAND_DSNS = [
    DSN,
    "https://e12d836b15bb49d7bbf99e64295d995b@o1.ingest.sentry.io/42",
    "https://pub:sec@sentry.example.com:8443/prefix/path/42",
    "http://abc:@localhost:80/7",
    "http://abc@127.0.0.1:9000/7/",
    "http://abc@[::1]:9000/7",
    "HTTPS://Key_1.x-y@Sentry.EXAMPLE.com:443//a/b/./c/../1",
    "https://k@xn--bcher-kva.example/1",
    "https://k@b\u00fccher.example/1",
    "https://k@h/1?x=1",
    "https://k@h/+1",
    "https://k%20y@h/1",
    "ftp://k@h/1",
    " https://k@0x7f.1:65535/18446744073709551615 ",
]

HAND_AUTH = [
    "Sentry sentry_key=abc, sentry_version=7, sentry_client=raven-python/6.10.0\nsentry_key=abc&sentry_version=7\nhttps://abc@example.com/42\n42",
    "sentry sentry_key=abc,sentry_version=7.0,sentry_secret=def\n\nhttps://abc:def@example.com/prefix/42\n",
    "Sentry key=\"abc\", version=2.0, client=x/1, sentry_timestamp=1\nsentry_key=xyz\n\n1",
    "sentry_key=abc\nsentry_key=abc&sentry_client=sentry.javascript.browser%2F8.0.0&x=1\nhttps://abc@h/7\n8",
    "Sentry,sentry_key=a,sentry_version=x\nsentry_key=&sentry_version=7\n\n",
    "Sentry sentry_key\n%zz=%ff&sentry_key=%E2%82%AC\nhttp://k@[::1]/0\n007",
]


def write(corpus, target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    fixtures_dir, corpus, targets = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    fixtures = list(load_fixtures(fixtures_dir))
    counts = {}

    def add(target, name, data):
        if target in targets:
            write(corpus, target, name, data)
            counts[target] = counts.get(target, 0) + 1

    dsns = set(HAND_DSNS)
    for name, meta, body in fixtures:
        enc = encoding_of(meta)
        store = "/store/" in meta.get("path", "")
        decoded = decode(meta, body)

        # decompress: the body as sent, with the selector of its encoding.
        add("decompress", name, bytes([SELECTOR.get(enc, 0)]) + body)
        if decoded is not None:
            add("decompress", name + "-gzip", b"\x01" + gzip.compress(decoded))
            add("decompress", name + "-zlib", b"\x02" + zlib.compress(decoded))
            add("decompress", name + "-rawdeflate", b"\x02" + raw_deflate(decoded))

        if store:
            # store_body: as the server sees it after Content-Encoding.
            if decoded is not None:
                add("store_body", name, decoded)
                add("store_body", name + "-b64zlib", base64.b64encode(zlib.compress(decoded)))
                add("store_body", name + "-b64json", base64.b64encode(decoded))
                add("store_body", name + "-b64rawdeflate", base64.b64encode(raw_deflate(decoded)).rstrip(b"="))
                # The store event inside an envelope, for the Event schema.
                if decoded.lstrip().startswith(b"{"):
                    add("envelope", name + "-as-event",
                        b'{"event_id":"%s"}\n{"type":"event"}\n' % EVENT_ID.encode()
                        + decoded.replace(b"\n", b" ") + b"\n")
        elif decoded is not None:
            add("envelope", name, decoded)
            first = decoded.split(b"\n", 1)[0]
            try:
                dsn = json.loads(first).get("dsn")
                if isinstance(dsn, str):
                    dsns.add(dsn)
            except ValueError:
                pass

        headers = meta.get("headers") or {}
        query = meta.get("query") or ""
        header = headers.get("x-sentry-auth") or ""
        if header or query:
            add("auth", name, f"{header}\n{query}\n{DSN}\n42")

    for i, data in enumerate(HAND_ENVELOPES):
        add("envelope", f"hand-{i}", data)
        add("decompress", f"hand-{i}-identity", b"\x00" + data)
    for i, frame in enumerate(zstd_frames(HAND_ENVELOPES[2])):
        add("decompress", f"hand-zstd-{i}", b"\x04" + frame)
    add("decompress", "empty-gzip", b"\x01" + gzip.compress(b""))

    add("store_body", "hand-json", b' {"message":"hi"}')
    add("store_body", "hand-b64", base64.b64encode(b'{"a":1}'))
    add("store_body", "hand-b64zlib", base64.b64encode(zlib.compress(b'{"message":"hi"}')))

    for i, dsn in enumerate(sorted(dsns)):
        add("dsn", f"{i}", dsn)
    for i, auth in enumerate(HAND_AUTH):
        add("auth", f"hand-{i}", auth)

    for target in sorted(targets):
        print(f"  seeded {target}: {counts.get(target, 0)} inputs")


if __name__ == "__main__":
    main()
