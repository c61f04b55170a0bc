//! `multipart/form-data` request bodies (RFC 7578), parsed whole.
//!
//! Minidump uploads (Breakpad, Crashpad, Electron) and attachment uploads
//! arrive as HTML-form posts. The server reads the body with a cap first
//! (and removes its `Content-Encoding`: Crashpad gzips the whole request),
//! then [`parse`] splits it into [`Part`]s. The parts share the body's
//! buffer: nothing is copied.
//!
//! The parser is strict where a mistake could hide data (a part must end
//! with a delimiter, the body with the close delimiter) and lenient where
//! clients differ (a preamble before the first boundary, whitespace after a
//! boundary, unquoted or RFC 5987 `filename*` parameters). Every limit in
//! [`MultipartLimits`] is checked before the part that exceeds it is kept.
//!
//! ```
//! use sentry_envelope::multipart::{self, MultipartLimits, Part};
//!
//! let body = b"--XyZ\r\n\
//! Content-Disposition: form-data; name=\"sentry[release]\"\r\n\r\n\
//! app@1.0\r\n\
//! --XyZ\r\n\
//! Content-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"crash.dmp\"\r\n\
//! Content-Type: application/octet-stream\r\n\r\n\
//! MDMP...\r\n\
//! --XyZ--\r\n";
//!
//! let boundary = multipart::boundary("multipart/form-data; boundary=XyZ")?;
//! let parts = multipart::parse(&bytes::Bytes::from_static(body), &boundary, &MultipartLimits::default())?;
//! assert_eq!(parts[0].name, "sentry[release]");
//! assert_eq!(&parts[0].data[..], b"app@1.0");
//! assert_eq!(parts[1].filename.as_deref(), Some("crash.dmp"));
//! assert_eq!(parts[1].content_type.as_deref(), Some("application/octet-stream"));
//!
//! // What `write` makes parses back to the same parts.
//! let again = multipart::parse(&multipart::write(&parts, "other").into(), "other", &MultipartLimits::default())?;
//! assert_eq!(again, parts);
//! # Ok::<(), sentry_envelope::multipart::MultipartError>(())
//! ```

use bytes::Bytes;
use memchr::memmem;

use crate::limits::Limits;

/// The longest boundary accepted (RFC 2046 allows 70 characters; clients
/// stay well below this).
pub const MAX_BOUNDARY_LEN: usize = 256;

/// Limits on a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Parts in one body.
    pub max_parts: usize,
    /// One part with a file name (an uploaded file).
    pub max_file_size: u64,
    /// One part without a file name (a form field).
    pub max_field_size: u64,
    /// All parts' data together.
    pub max_total_size: u64,
    /// The header lines of one part together.
    pub max_header_size: usize,
}

impl MultipartLimits {
    /// The limits for an upload under the given envelope limits: files up
    /// to [`Limits::max_attachment_size`], fields up to
    /// [`Limits::max_event_size`], everything up to
    /// [`Limits::max_attachments_size`], at most 500 parts with at most
    /// 16 KiB of headers each.
    pub fn from_limits(limits: &Limits) -> Self {
        MultipartLimits {
            max_parts: 500,
            max_file_size: limits.max_attachment_size,
            max_field_size: limits.max_event_size,
            max_total_size: limits.max_attachments_size,
            max_header_size: 16 * 1024,
        }
    }
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits::from_limits(&Limits::default())
    }
}

/// One part of a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The `name` of its `Content-Disposition`; empty if it has none.
    pub name: String,
    /// The `filename` (or `filename*`) of its `Content-Disposition`.
    pub filename: Option<String>,
    /// Its `Content-Type`, if it has a non-empty one.
    pub content_type: Option<String>,
    /// The data, a slice of the body.
    pub data: Bytes,
}

impl Part {
    /// Whether the part is an uploaded file (it has a file name) rather
    /// than a form field.
    pub fn is_file(&self) -> bool {
        self.filename.is_some()
    }
}

/// Why a multipart body was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultipartError {
    /// The content type is not `multipart/form-data`.
    #[error("not a multipart/form-data content type: {0:?}")]
    NotMultipart(String),
    /// The content type has no `boundary` parameter.
    #[error("no boundary in the multipart content type")]
    NoBoundary,
    /// The boundary is empty, too long, or holds a line break.
    #[error("invalid multipart boundary")]
    InvalidBoundary,
    /// The body does not contain the boundary at all.
    #[error("no opening boundary in the multipart body")]
    NoOpeningBoundary,
    /// A part is not well formed.
    #[error("invalid multipart body: part {index}: {reason}")]
    Malformed {
        /// The part's position, from 0.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The body ends before its close delimiter.
    #[error("incomplete multipart body: it ends inside part {index}")]
    Incomplete {
        /// The part's position, from 0.
        index: usize,
    },
    /// A part's headers are longer than [`MultipartLimits::max_header_size`].
    #[error("multipart part {index} has over {max} bytes of headers")]
    HeadersTooLarge {
        /// The part's position, from 0.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// More parts than [`MultipartLimits::max_parts`].
    #[error("more than {max} multipart parts")]
    TooManyParts {
        /// The limit.
        max: usize,
    },
    /// A part over [`MultipartLimits::max_file_size`] or
    /// [`MultipartLimits::max_field_size`].
    #[error("multipart part {name:?} of {size} bytes is over {max} bytes")]
    PartTooLarge {
        /// The part's name.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// All parts together over [`MultipartLimits::max_total_size`].
    #[error("multipart parts over {max} bytes in all")]
    TotalTooLarge {
        /// The limit.
        max: u64,
    },
}

impl MultipartError {
    /// Whether a limit was exceeded (HTTP 413), rather than the body being
    /// malformed (HTTP 400).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            MultipartError::TooManyParts { .. }
                | MultipartError::PartTooLarge { .. }
                | MultipartError::TotalTooLarge { .. }
        )
    }
}

/// The boundary of a `multipart/form-data` content type (a `Content-Type`
/// header value).
///
/// ```
/// use sentry_envelope::multipart::boundary;
/// assert_eq!(boundary("multipart/form-data; boundary=abc").unwrap(), "abc");
/// assert_eq!(boundary("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b\"").unwrap(), "a b");
/// assert!(boundary("application/json").is_err());
/// ```
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart(content_type.to_owned()));
    }
    let boundary = parse_params(params)
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .ok_or(MultipartError::NoBoundary)?;
    check_boundary(&boundary)?;
    Ok(boundary)
}

/// The boundary of a body that starts (after blank lines) with a `--`
/// delimiter line: how a multipart body nested in a part (old Electron
/// minidump uploads) is recognized.
///
/// ```
/// use sentry_envelope::multipart::boundary_of_body;
/// assert_eq!(boundary_of_body(b"\r\n--xyz\r\nContent-Disposition: ..."), Some("xyz"));
/// assert_eq!(boundary_of_body(b"MDMP"), None);
/// ```
pub fn boundary_of_body(body: &[u8]) -> Option<&str> {
    let line = body
        .split(|&b| b == b'\r' || b == b'\n')
        .find(|line| !line.is_empty())?;
    let boundary = std::str::from_utf8(line.strip_prefix(b"--")?).ok()?;
    check_boundary(boundary).ok()?;
    Some(boundary)
}

fn check_boundary(boundary: &str) -> Result<(), MultipartError> {
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LEN || boundary.contains(['\r', '\n']) {
        return Err(MultipartError::InvalidBoundary);
    }
    Ok(())
}

/// Splits a `multipart/form-data` body into its parts, enforcing `limits`.
///
/// Text before the first boundary (a preamble) and after the close
/// delimiter (an epilogue) is ignored, as RFC 2046 says.
pub fn parse(
    body: &Bytes,
    boundary: &str,
    limits: &MultipartLimits,
) -> Result<Vec<Part>, MultipartError> {
    check_boundary(boundary)?;
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary.as_bytes());
    let finder = memmem::Finder::new(&delimiter);

    // The first delimiter may open the body without the line break before it.
    let mut pos = if body.starts_with(&delimiter[2..]) {
        delimiter.len() - 2
    } else {
        finder.find(body).ok_or(MultipartError::NoOpeningBoundary)? + delimiter.len()
    };

    let mut parts = Vec::new();
    let mut total = 0u64;
    loop {
        let index = parts.len();
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line break that ends the delimiter line.
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        match &rest[padding..] {
            [b'\r', b'\n', ..] => pos += padding + 2,
            [] | [b'\r'] | [b'-'] => return Err(MultipartError::Incomplete { index }),
            _ => {
                return Err(MultipartError::Malformed {
                    index,
                    reason: "no line break after the boundary",
                });
            }
        }
        if index >= limits.max_parts {
            return Err(MultipartError::TooManyParts {
                max: limits.max_parts,
            });
        }

        // Header lines, up to an empty line.
        let rest = &body[pos..];
        let (headers, data_start) = if rest.starts_with(b"\r\n") {
            (&rest[..0], pos + 2)
        } else {
            let window = &rest[..rest.len().min(limits.max_header_size.saturating_add(4))];
            match memmem::find(window, b"\r\n\r\n") {
                Some(end) => (&rest[..end], pos + end + 4),
                None if window.len() == rest.len() => {
                    return Err(MultipartError::Incomplete { index });
                }
                None => {
                    return Err(MultipartError::HeadersTooLarge {
                        index,
                        max: limits.max_header_size,
                    });
                }
            }
        };
        let headers = PartHeaders::parse(headers, index)?;

        // The data, up to the next delimiter.
        let len = finder
            .find(&body[data_start..])
            .ok_or(MultipartError::Incomplete { index })?;
        let size = len as u64;
        let max = if headers.filename.is_some() {
            limits.max_file_size
        } else {
            limits.max_field_size
        };
        if size > max {
            return Err(MultipartError::PartTooLarge {
                name: headers.name,
                size,
                max,
            });
        }
        total = total.saturating_add(size);
        if total > limits.max_total_size {
            return Err(MultipartError::TotalTooLarge {
                max: limits.max_total_size,
            });
        }
        parts.push(Part {
            name: headers.name,
            filename: headers.filename,
            content_type: headers.content_type,
            data: body.slice(data_start..data_start + len),
        });
        pos = data_start + len + delimiter.len();
    }
}

/// Writes parts as a `multipart/form-data` body with the given boundary.
///
/// Quotes and backslashes in names and file names are escaped with a
/// backslash (which [`parse`] undoes); line breaks are written as `%0D` and
/// `%0A`, as browsers do. The boundary must not occur in any part's data.
pub fn write(parts: &[Part], boundary: &str) -> Vec<u8> {
    let size: usize = parts.iter().map(|p| p.data.len() + 128).sum();
    let mut out = Vec::with_capacity(size + boundary.len() * (parts.len() + 1));
    for part in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        write_quoted(&mut out, &part.name);
        out.push(b'"');
        if let Some(filename) = &part.filename {
            out.extend_from_slice(b"; filename=\"");
            write_quoted(&mut out, filename);
            out.push(b'"');
        }
        if let Some(content_type) = &part.content_type {
            out.extend_from_slice(b"\r\nContent-Type: ");
            for c in content_type.chars() {
                match c {
                    '\r' => out.extend_from_slice(b"%0D"),
                    '\n' => out.extend_from_slice(b"%0A"),
                    c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&part.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    out
}

fn write_quoted(out: &mut Vec<u8>, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\r' => out.extend_from_slice(b"%0D"),
            '\n' => out.extend_from_slice(b"%0A"),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

/// What a part's headers say.
struct PartHeaders {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

impl PartHeaders {
    fn parse(block: &[u8], index: usize) -> Result<Self, MultipartError> {
        let mut out = PartHeaders {
            name: String::new(),
            filename: None,
            content_type: None,
        };
        if block.is_empty() {
            return Ok(out);
        }
        // Unfold continuation lines (obsolete, but cheap to accept).
        let mut lines: Vec<(String, String)> = Vec::new();
        for line in split_crlf(block) {
            let line = String::from_utf8_lossy(line);
            if line.starts_with([' ', '\t']) {
                match lines.last_mut() {
                    Some((_, value)) => {
                        // Values stay trimmed, also when the first line was
                        // empty (found by fuzzing: a leading space did not
                        // survive a write and parse).
                        let more = line.trim();
                        if !value.is_empty() && !more.is_empty() {
                            value.push(' ');
                        }
                        value.push_str(more);
                        continue;
                    }
                    None => {
                        return Err(MultipartError::Malformed {
                            index,
                            reason: "a continuation line without a header",
                        });
                    }
                }
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(MultipartError::Malformed {
                    index,
                    reason: "a header line without a colon",
                });
            };
            lines.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        for (name, value) in lines {
            if name.eq_ignore_ascii_case("content-disposition") {
                let (_, params) = value.split_once(';').unwrap_or((&value, ""));
                let params = parse_params(params);
                let get = |key: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(key))
                        .map(|(_, v)| v.clone())
                };
                out.name = get("name").unwrap_or_default();
                out.filename = get("filename*")
                    .and_then(|v| decode_ext_value(&v))
                    .or_else(|| get("filename"));
            } else if name.eq_ignore_ascii_case("content-type") && !value.is_empty() {
                out.content_type = Some(value);
            }
        }
        Ok(out)
    }
}

/// The lines of a header block (split at `\r\n` only).
fn split_crlf(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memmem::find_iter(block, b"\r\n");
    std::iter::from_fn(move || {
        if start > block.len() {
            return None;
        }
        let end = ends.next().unwrap_or(block.len());
        let line = &block[start..end];
        start = end + 2;
        Some(line)
    })
}

/// The `key=value` parameters after a header's first `;`. Quoted values
/// may escape `"` and `\` with a backslash; other backslashes are kept
/// (browsers send Windows paths unescaped). Keys are kept as sent.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ';' || c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ';') {
            key.push(c);
        }
        let key = key.trim().to_owned();
        if chars.next_if_eq(&'=').is_none() {
            // A bare token: not a parameter.
            continue;
        }
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next_if(|c| *c == '"' || *c == '\\') {
                        Some(escaped) => value.push(escaped),
                        None => value.push('\\'),
                    },
                    c => value.push(c),
                }
            }
            // Whatever follows the closing quote up to `;` is junk.
            while chars.next_if(|c| *c != ';').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ';') {
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        out.push((key, value));
    }
}

/// Decodes an RFC 5987 value (`UTF-8''na%C3%AFve.txt`); `None` if it is
/// not one.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let raw = encoded.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    bytes.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => {
                    bytes.push(b'%');
                    i += 1;
                }
            },
            b => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    if charset.eq_ignore_ascii_case("utf-8") {
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        // ISO-8859-1, the only other charset RFC 5987 requires.
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits() -> MultipartLimits {
        MultipartLimits::default()
    }

    fn parse_str(body: &str, boundary: &str) -> Result<Vec<Part>, MultipartError> {
        parse(
            &Bytes::copy_from_slice(body.as_bytes()),
            boundary,
            &limits(),
        )
    }

    fn field(name: &str, data: &str) -> Part {
        Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn boundaries_from_content_types() {
        assert_eq!(
            boundary("multipart/form-data;boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW").unwrap(),
            "----WebKitFormBoundary7MA4YWxkTrZu0gW"
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"quoted; with semicolon\"").unwrap(),
            "quoted; with semicolon"
        );
        assert!(matches!(
            boundary("multipart/mixed; boundary=x"),
            Err(MultipartError::NotMultipart(_))
        ));
        assert_eq!(
            boundary("multipart/form-data"),
            Err(MultipartError::NoBoundary)
        );
        assert_eq!(
            boundary("multipart/form-data; boundary="),
            Err(MultipartError::InvalidBoundary)
        );
        let long = format!("multipart/form-data; boundary={}", "x".repeat(300));
        assert_eq!(boundary(&long), Err(MultipartError::InvalidBoundary));
    }

    #[test]
    fn preamble_padding_epilogue_and_empty_parts() {
        let body = "preamble\r\n--b  \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n\
                    --b\r\n\r\nno headers\r\n--b\r\ncontent-disposition: form-data; name=\"e\"\r\n\r\n\r\n--b--epilogue";
        let parts = parse_str(body, "b").unwrap();
        assert_eq!(
            parts,
            vec![field("a", "1"), field("", "no headers"), field("e", "")]
        );
    }

    #[test]
    fn file_names_plain_quoted_and_extended() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"C:\\dir\\a \\\"b\\\".txt\"\r\n\
                    Content-Type:  image/png \r\n\r\nPNG\r\n\
                    --b\r\nContent-Disposition: form-data; name=g; filename=\"fallback\"; filename*=UTF-8''na%C3%AFve%20%zz.txt\r\n\r\nx\r\n\
                    --b\r\nContent-Disposition: form-data;\r\n name=\"folded\"; filename=\"\"\r\n\r\ny\r\n--b--";
        let parts = parse_str(body, "b").unwrap();
        assert_eq!(parts[0].filename.as_deref(), Some("C:\\dir\\a \"b\".txt"));
        assert_eq!(parts[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].filename.as_deref(), Some("naïve %zz.txt"));
        assert_eq!(parts[2].name, "folded");
        assert_eq!(parts[2].filename.as_deref(), Some(""));
        assert!(parts[2].is_file());
    }

    #[test]
    fn folded_header_values_stay_trimmed() {
        // Regression (fuzz/regressions/multipart-folded-empty-header).
        let parts = parse_str(
            "--b\r\nContent-Type:\r\n text/plain\r\n\t\r\n\r\nx\r\n--b--",
            "b",
        )
        .unwrap();
        assert_eq!(parts[0].content_type.as_deref(), Some("text/plain"));
        let again = parse(&write(&parts, "b").into(), "b", &limits()).unwrap();
        assert_eq!(again, parts);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: &[(&str, MultipartError)] = &[
            ("", MultipartError::NoOpeningBoundary),
            ("no boundary here", MultipartError::NoOpeningBoundary),
            ("--b", MultipartError::Incomplete { index: 0 }),
            ("--b\r", MultipartError::Incomplete { index: 0 }),
            (
                "--bx\r\n",
                MultipartError::Malformed {
                    index: 0,
                    reason: "no line break after the boundary",
                },
            ),
            ("--b\r\nbroken", MultipartError::Incomplete { index: 0 }),
            (
                "--b\r\nX: 1\r\n\r\ndata without an end",
                MultipartError::Incomplete { index: 0 },
            ),
            (
                "--b\r\nno colon\r\n\r\nx\r\n--b--",
                MultipartError::Malformed {
                    index: 0,
                    reason: "a header line without a colon",
                },
            ),
            (
                "--b\r\n folded first\r\n\r\nx\r\n--b--",
                MultipartError::Malformed {
                    index: 0,
                    reason: "a continuation line without a header",
                },
            ),
            (
                "--b\r\n\r\nx\r\n--b",
                MultipartError::Incomplete { index: 1 },
            ),
            (
                "--b\r\n\r\nx\r\n--b-",
                MultipartError::Incomplete { index: 1 },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(&parse_str(body, "b").unwrap_err(), expected, "{body:?}");
        }
        assert_eq!(
            parse_str("--b--", "").unwrap_err(),
            MultipartError::InvalidBoundary
        );
    }

    #[test]
    fn limits_are_enforced() {
        let parts = vec![
            field("a", "12345"),
            Part {
                filename: Some("f.bin".into()),
                ..field("file", "1234567890")
            },
        ];
        let body = Bytes::from(write(&parts, "b"));
        let ok = MultipartLimits {
            max_parts: 2,
            max_file_size: 10,
            max_field_size: 5,
            max_total_size: 15,
            max_header_size: 100,
        };
        assert_eq!(parse(&body, "b", &ok).unwrap(), parts);

        let over = |limits: MultipartLimits| parse(&body, "b", &limits).unwrap_err();
        let err = over(MultipartLimits {
            max_parts: 1,
            ..ok.clone()
        });
        assert_eq!(err, MultipartError::TooManyParts { max: 1 });
        assert!(err.is_limit());
        let err = over(MultipartLimits {
            max_field_size: 4,
            ..ok.clone()
        });
        assert_eq!(
            err,
            MultipartError::PartTooLarge {
                name: "a".into(),
                size: 5,
                max: 4
            }
        );
        assert!(matches!(
            over(MultipartLimits {
                max_file_size: 9,
                ..ok.clone()
            }),
            MultipartError::PartTooLarge { size: 10, .. }
        ));
        assert_eq!(
            over(MultipartLimits {
                max_total_size: 14,
                ..ok.clone()
            }),
            MultipartError::TotalTooLarge { max: 14 }
        );
        let err = over(MultipartLimits {
            max_header_size: 10,
            ..ok
        });
        assert_eq!(err, MultipartError::HeadersTooLarge { index: 0, max: 10 });
        assert!(!err.is_limit());
    }

    #[test]
    fn nested_bodies_have_their_boundary() {
        assert_eq!(boundary_of_body(b"--abc\r\n"), Some("abc"));
        assert_eq!(boundary_of_body(b"\n\r--abc\rrest"), Some("abc"));
        assert_eq!(boundary_of_body(b"--"), None);
        assert_eq!(boundary_of_body(b"abc"), None);
        assert_eq!(boundary_of_body(b""), None);
    }

    fn part() -> impl Strategy<Value = Part> {
        (
            "[^\r\n]{0,12}",
            proptest::option::of("[^\r\n]{0,12}"),
            proptest::option::of("[a-z]{1,8}/[a-z.+-]{1,12}"),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(name, filename, content_type, data)| Part {
                name,
                filename,
                content_type,
                data: Bytes::from(data),
            })
    }

    proptest! {
        #[test]
        fn written_parts_parse_back(
            parts in proptest::collection::vec(part(), 0..8),
            boundary in "[A-Za-z0-9'()+_,./:=?-]{1,70}",
        ) {
            // The boundary must not occur in the data (the writer's contract).
            let delimiter = format!("\r\n--{boundary}");
            let clashes = parts.iter().any(|p| {
                let mut data = p.data.to_vec();
                data.extend_from_slice(delimiter.as_bytes());
                memmem::find(&data, delimiter.as_bytes()) != Some(p.data.len())
            });
            prop_assume!(!clashes);
            let body = Bytes::from(write(&parts, &boundary));
            prop_assert_eq!(parse(&body, &boundary, &MultipartLimits::default()).unwrap(), parts);
        }

        #[test]
        fn any_body_parses_within_limits_or_fails(
            body in proptest::collection::vec(prop_oneof![
                Just(b"--b".to_vec()), Just(b"\r\n".to_vec()), Just(b"--".to_vec()),
                Just(b"Content-Disposition: form-data; name=\"x\"; filename=y".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..8),
            ], 0..40),
        ) {
            let body = Bytes::from(body.concat());
            let limits = MultipartLimits {
                max_parts: 3,
                max_file_size: 20,
                max_field_size: 10,
                max_total_size: 25,
                max_header_size: 64,
            };
            if let Ok(parts) = parse(&body, "b", &limits) {
                prop_assert!(parts.len() <= 3);
                let mut total = 0;
                for p in &parts {
                    let cap = if p.is_file() { 20 } else { 10 };
                    prop_assert!(p.data.len() <= cap);
                    total += p.data.len();
                }
                prop_assert!(total <= 25);
            }
        }
    }
}
