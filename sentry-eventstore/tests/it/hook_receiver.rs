//! A service-hook receiver for tests (also used by the services' tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// A request a hook receiver got: its headers (lowercase names) and body.
pub(crate) type Received = (Vec<(String, String)>, Vec<u8>);

/// An HTTP server on loopback that answers 200 to every request and hands
/// each one over.
pub(crate) fn hook_receiver(path: &str) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            if !answer(stream, &tx) {
                return;
            }
        }
    });
    (url, rx)
}

/// Reads one request from `stream`, answers 200 and hands it over; `false`
/// once nobody listens any more.
pub(crate) fn answer(stream: impl Read + Write, tx: &mpsc::Sender<Received>) -> bool {
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    headers.push(("request-line".to_owned(), line.trim().to_owned()));
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let stream = reader.get_mut();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    stream.flush().unwrap();
    tx.send((headers, body)).is_ok()
}

/// The value of header `name` (lowercase) among `headers`, empty if absent.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}
