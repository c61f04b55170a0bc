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


# A minimal valid minidump: header, three-stream directory, SystemInfo
# (Linux, x86-64) with an empty CSD string, empty thread and module lists.
MINIDUMP = (
    b"MDMP"
    + b"".join(v.to_bytes(4, "little") for v in (0xA793, 3, 32, 0, 1700000000, 0, 0))
    + b"".join(v.to_bytes(4, "little") for v in (7, 56, 68, 3, 4, 132, 4, 4, 136))
    + b"".join(v.to_bytes(2, "little") for v in (9, 6, 0))
    + bytes([4, 0])
    + b"".join(v.to_bytes(4, "little") for v in (5, 15, 0, 0x8201, 124, 0))
    + b"GenuineIntel" + bytes(12) + bytes(8) + bytes(8)
)


def form(boundary, parts, crlf=b"\r\n"):
    """A multipart/form-data body: parts are (name, filename, content type, data)."""
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary + crlf
        out += b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            out += b'; filename="' + filename + b'"'
        out += crlf
        if ctype is not None:
            out += b"Content-Type: " + ctype + crlf
        out += crlf + data + crlf
    return out + b"--" + boundary + b"--" + crlf


CRASHPAD_BOUNDARY = b"---MultipartBoundary-5a7c1e6f0d9b4c2a8e3f1b7d9c0a2e4f---"
CRASHPAD_PARTS = [
    (b"guid", None, None, b"3f1c6e0b-8d2a-4b7e-9c5f-1a2b3c4d5e6f"),
    (b"prod", None, None, b"my-native-app"),
    (b"ver", None, None, b"1.2.3"),
    (b"sentry[release]", None, None, b"my-native-app@1.2.3"),
    (b"sentry[tags][gpu]", None, None, b"none"),
    (b"sentry", None, None, b'{"environment":"prod","user":{"id":"42"}}'),
    (b"upload_file_minidump", b"a4a6f2ec.dmp", b"application/octet-stream", MINIDUMP),
]

HAND_MULTIPART = [
    (b"multipart/form-data; boundary=" + CRASHPAD_BOUNDARY, form(CRASHPAD_BOUNDARY, CRASHPAD_PARTS)),
    (b'multipart/form-data; boundary="quoted; b"', form(b"quoted; b", [(b"a", None, None, b"1")])),
    (
        b"Multipart/Form-Data; charset=utf-8; BOUNDARY=----WebKitFormBoundary7MA4YWxkTrZu0gW",
        b"preamble\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW \t\r\n"
        b"Content-Disposition: form-data; name=\"f\"; filename=\"C:\\dir\\a \\\"b\\\".txt\"; filename*=UTF-8''na%C3%AFve.txt\r\n"
        b"Content-Type: text/plain\r\n\r\nhello\r\n"
        b"------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
        b"Content-Disposition: form-data;\r\n name=folded\r\n\r\n\r\n"
        b"------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n\r\nno headers\r\n"
        b"------WebKitFormBoundary7MA4YWxkTrZu0gW--epilogue",
    ),
    (b"multipart/form-data; boundary=b", b"--b\r\nbroken"),
    (b"multipart/form-data; boundary=b", b"--b--\r\n"),
    (b"multipart/form-data", b"--b--"),
    (b"application/json", b"{}"),
]

HAND_FORMS = [
    b"sentry[release]=app@1.0\nsentry[tags][gpu]=none\nprod=my-app\nver=1.0",
    b'sentry={"release":"1.0","tags":{"a":"1"},"extra":{"k":[1,2]}}\nsentry[tags][b]=2',
    b'sentry__2="b"}}\nsentry__1={"tags":{"a":\nsentry___ns={"level":"error"}',
    b"sentry[a][b][c][d][e][f][g][h]=too deep\nsentry[tags=x\nsentry[a]b=x\nsentry[]=empty\nsentry=[1]\nsentry={",
    b"sentry[event_id]=9ec79c33ec9942ab8353589fcb2e04dc\nsentry[user][id]=1\nsentry[user]=flat",
]

CSP = b'{"csp-report": {"document-uri": "https://example.com/foo/bar", "referrer": "https://www.google.com/", "violated-directive": "default-src self", "original-policy": "default-src self; report-uri /csp-hotline.php", "blocked-uri": "http://evilhackerscripts.com:8080/x.js", "status-code": "200", "line-number": 24, "script-sample": ""}}'
HAND_SECURITY = [
    CSP,
    b'{"csp-report": {"effective-directive": "script-src", "blocked-uri": "inline"}}',
    b'{"csp-report": {"violated-directive": "img-src \'none\'", "blocked-uri": "data"}}',
    b'{"csp-report": {"effective-directive": "form-action", "blocked-uri": "blob:https://a.example/1"}}',
    b'[{"type": "csp-violation", "age": 10, "url": "https://example.com/page", "user_agent": "Mozilla/5.0", "body": {"blockedURL": "https://cdn.evil.example/a.js", "effectiveDirective": "script-src-elem", "originalPolicy": "script-src \'self\'", "disposition": "enforce", "statusCode": 200, "sample": "", "lineNumber": "7"}}, {"type": "deprecation", "body": {"id": "x"}}, 42]',
    b'{"type": "intervention", "body": {}}',
    b'{"expect-ct-report": {"date-time": "2014-04-06T13:00:50Z", "hostname": "www.example.com", "port": 443, "effective-expiration-date": "2014-05-01T12:40:50Z", "served-certificate-chain": ["-----BEGIN CERTIFICATE-----"], "validated-certificate-chain": [], "scts": [{"version": 1, "status": "invalid", "source": "embedded", "serialized_sct": "ABC="}]}}',
    b'{"expect-staple-report": {"date-time": "2014-04-06T13:00:50Z", "hostname": "www.example.com", "port": "443", "response-status": "ERROR_RESPONSE", "cert-status": "REVOKED", "served-certificate-chain": [], "validated-certificate-chain": []}}',
    b'{"date-time": "2014-04-06T13:00:50Z", "hostname": "www.example.com", "port": 443, "effective-expiration-date": "2014-05-01T12:40:50Z", "include-subdomains": false, "served-certificate-chain": [], "validated-certificate-chain": [], "known-pins": ["pin-sha256=\\"d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=\\""]}',
    b'[{"age": 0, "type": "network-error", "url": "https://example.com/", "body": {"type": "http.error", "status_code": 500, "elapsed_time": 12, "phase": "application", "method": "GET", "protocol": "h2", "referrer": "", "sampling_fraction": 1, "server_ip": "10.0.0.1"}}]',
    b"{}",
    b"[]",
    b"{nope",
]


# SnQL queries in the shapes Sentry sends (snql target).
HAND_SNQL = [
    "MATCH (events) SELECT count() AS times_seen, uniq(user) AS users, max(timestamp) AS last_seen "
    "BY group_id WHERE project_id IN tuple(1, 2) AND timestamp >= toDateTime('2024-05-01T00:00:00') "
    "AND timestamp < toDateTime('2024-05-02T00:00:00') AND tags[environment] = 'production' "
    "AND (level = 'error' OR level = 'fatal') HAVING times_seen > 10 ORDER BY times_seen DESC LIMIT 100 OFFSET 20",
    "MATCH (transactions SAMPLE 0.1) SELECT quantile(0.95)(duration) AS p95 BY transaction "
    "ARRAY JOIN spans.op WHERE project_id = 1 HAVING p95 > 100.5 ORDER BY p95 DESC "
    "LIMIT 1 BY transaction LIMIT 10 OFFSET 5 GRANULARITY 3600 TOTALS true",
    "MATCH (e: events) -[grouped]-> (g: groupedmessage) SELECT count() BY e.group_id "
    "WHERE e.project_id = 1 AND g.status IS NOT NULL",
    "MATCH { MATCH (transactions) SELECT avg(duration) AS avg_d BY transaction } SELECT max(avg_d)",
    "MATCH (events) SELECT 'it\\'s', NULL, true, -1.5e3, a - -1, arrayExists((`x`) -> equals(`x`, 'a'), tags.key) "
    "WHERE a NOT IN (1, 2) AND b NOT LIKE '%x' AND c <> 1",
]


# Issue searches as people type them in the issue list (search target).
HAND_SEARCH = [
    "is:unresolved",
    "is:unresolved level:error browser:Chrome !user.email:*@example.com times_seen:>1k firstSeen:-24h",
    'is:[unresolved, for_review] !assigned:[me, #team] bookmarks:me "connection reset" timed out',
    "(level:error OR level:fatal) (environment:production OR !has:environment) lastSeen:+7d",
    'error.type:[KeyError, ValueError] !error.handled:true stack.function:"run(self)" has:tags[sentry:user]',
    "event.timestamp:>=2024-05-01T10:00:00+02:00 timestamp:<2024-05-02 users_seen:<=2.5 age:-30m",
    'release:"1.0 (beta)" message:"it \\"failed\\"" title:a\\*b* transaction:/api/*_v1% a AND b OR c',
    "level:>error is:nope times_seen:abc (unclosed \"quote k:[a, b",
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

    # multipart: the Content-Type line, then the body.
    for i, (ctype, body) in enumerate(HAND_MULTIPART):
        add("multipart", f"hand-{i}", ctype + b"\n" + body)

    # minidump: a selector byte (0 body, 1 form fields, 2 multipart upload).
    add("minidump", "raw", b"\x00" + MINIDUMP)
    add("minidump", "raw-gzip", b"\x00" + gzip.compress(MINIDUMP))
    for i, frame in enumerate(zstd_frames(MINIDUMP)):
        add("minidump", f"raw-zstd-{i}", b"\x00" + frame)
    add("minidump", "raw-not-a-dump", b"\x00ELF")
    for i, fields in enumerate(HAND_FORMS):
        add("minidump", f"form-{i}", b"\x01" + fields)
    add("minidump", "crashpad", b"\x02" + form(CRASHPAD_BOUNDARY, CRASHPAD_PARTS))
    gz_parts = [p if p[0] != b"upload_file_minidump" else (p[0], b"m.dmp.gz", p[2], gzip.compress(MINIDUMP)) for p in CRASHPAD_PARTS]
    add("minidump", "crashpad-gzip-dump", b"\x02" + form(CRASHPAD_BOUNDARY, gz_parts))
    nested = form(b"inner", [(b"upload_file_minidump", b"m.dmp", None, MINIDUMP)])
    add("minidump", "electron-nested", b"\x02" + form(b"outer", [(b"upload_file_minidump", b"m.dmp", None, nested)]))
    add("minidump", "breakpad-no-dump", b"\x02" + form(b"x", [(b"prod", None, None, b"app")]))

    for i, report in enumerate(HAND_SECURITY):
        add("security_report", f"hand-{i}", report)

    for i, dsn in enumerate(sorted(dsns)):
        add("dsn", f"{i}", dsn)
    for i, auth in enumerate(HAND_AUTH):
        add("auth", f"hand-{i}", auth)

    for i, query in enumerate(HAND_SNQL):
        add("snql", f"hand-{i}", query.encode())
    for i, query in enumerate(HAND_SEARCH):
        add("search", f"hand-{i}", query.encode())

    for target in sorted(targets):
        print(f"  seeded {target}: {counts.get(target, 0)} inputs")


if __name__ == "__main__":
    main()
