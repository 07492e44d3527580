//! Reads the raw lines of an IRC log from any reader through one reused buffer and lends each line
//! out until the next: no allocation, copy or UTF-8 check per line. Line ends are removed and blank
//! lines skipped, as [`super::import`] does for [`super::Format::Irc`].

use std::io::{ErrorKind, Read};

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// The lines of a raw IRC log (see the module docs). A line that is not UTF-8 is lent as it is: the
/// task that parses it refuses it with the reason, for the dead-letter topic.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// The current line is `buf[line.0..line.1]`.
    line: (usize, usize),
}

impl<R: Read> LineReader<R> {
    /// A reader of `inner`'s lines.
    pub fn new(inner: R) -> Self {
        LineReader::with_chunk(inner, CHUNK)
    }

    /// A reader that reads `chunk` bytes at a time (at least 1; the buffer grows for longer lines).
    pub fn with_chunk(inner: R, chunk: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; chunk.max(1)],
            start: 0,
            end: 0,
            eof: false,
            line: (0, 0),
        }
    }

    /// Moves to the next non-blank line; false at the end of the input.
    pub fn advance(&mut self) -> std::io::Result<bool> {
        loop {
            let (from, to) = match memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                Some(i) => {
                    let (from, to) = (self.start, self.start + i);
                    self.start = to + 1;
                    (from, to)
                }
                None if self.eof => {
                    if self.start == self.end {
                        return Ok(false);
                    }
                    let (from, to) = (self.start, self.end);
                    self.start = self.end;
                    (from, to)
                }
                None => {
                    self.fill()?;
                    continue;
                }
            };
            let mut to = to;
            while to > from && matches!(self.buf[to - 1], b'\n' | b'\r') {
                to -= 1;
            }
            if !is_blank(&self.buf[from..to]) {
                self.line = (from, to);
                return Ok(true);
            }
        }
    }

    /// The current line (empty before the first [`LineReader::advance`]).
    pub fn line(&self) -> &[u8] {
        &self.buf[self.line.0..self.line.1]
    }

    /// Keeps the unread bytes and reads more after them.
    fn fill(&mut self) -> std::io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        self.line = (0, 0);
        if self.end == self.buf.len() {
            // A line longer than the buffer.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// True for a line that `str::trim` would leave empty (whitespace only, Unicode whitespace included).
fn is_blank(line: &[u8]) -> bool {
    match line
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0x0b)
    {
        None => true,
        Some(i) if line[i].is_ascii() => false,
        Some(_) => std::str::from_utf8(line).is_ok_and(|l| l.trim().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::import::{import, Format, ImportOptions};

    fn read_all(log: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut reader = LineReader::with_chunk(log, chunk);
        let mut lines = Vec::new();
        while reader.advance().unwrap() {
            lines.push(reader.line().to_vec());
        }
        lines
    }

    #[test]
    fn reads_the_lines_the_streaming_import_reads_whatever_the_chunk_size() {
        let long = format!(":a!a@a PRIVMSG #c :{}\n", "x".repeat(300));
        let logs: [&[u8]; 6] = [
            b":a!a@a PRIVMSG #c :one\r\n\r\n   \n:b!b@b PRIVMSG #c :two \n:c!c@c PRIVMSG #c :three",
            b"\n\n:a!a@a PRIVMSG #c :\xe2\x9c\x93 ok\r\r\n\x0b\x0c\t\n",
            "\u{3000} \u{85}\n:a!a@a PRIVMSG #c :\u{3000}\n".as_bytes(),
            long.as_bytes(),
            b"\n",
            b"",
        ];
        for log in logs {
            let expected: Vec<Vec<u8>> = import(Format::Irc, ImportOptions::default(), log)
                .map(|r| r.unwrap().line.into_bytes())
                .collect();
            for chunk in [1, 2, 3, 7, 64, CHUNK] {
                assert_eq!(
                    read_all(log, chunk),
                    expected,
                    "chunk {chunk}: {:?}",
                    String::from_utf8_lossy(log)
                );
            }
        }
    }

    #[test]
    fn lends_a_line_that_is_not_utf8_as_it_is() {
        let log: &[u8] = b":a!a@a PRIVMSG #c :bad \xff byte\r\n\n:b!b@b PRIVMSG #c :fine";
        for chunk in [1, 5, CHUNK] {
            assert_eq!(
                read_all(log, chunk),
                [
                    &b":a!a@a PRIVMSG #c :bad \xff byte"[..],
                    b":b!b@b PRIVMSG #c :fine"
                ]
            );
        }
    }
}
