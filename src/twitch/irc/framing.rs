//! Line framing of the IRC byte stream: bytes in, complete lines out (without `\r\n`), with a cap on
//! line length so a broken peer cannot grow the buffer without bound.

/// The longest line accepted: Twitch's tags are at most 8 KiB and a message 512 bytes; this leaves room.
pub const MAX_LINE: usize = 64 * 1024;

/// Accumulates bytes and yields complete lines.
#[derive(Debug, Default)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    /// Set while discarding the rest of an over-long line.
    discarding: bool,
}

/// One framed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, invalid UTF-8 replaced by U+FFFD.
    Line(String),
    /// A line longer than [`MAX_LINE`] was skipped.
    TooLong,
}

impl LineFramer {
    /// An empty framer.
    pub fn new() -> LineFramer {
        LineFramer::default()
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, if the buffer holds one. Empty lines are skipped.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let Some(pos) = memchr::memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() > MAX_LINE {
                    self.buf.clear();
                    self.scanned = 0;
                    if !self.discarding {
                        self.discarding = true;
                        return Some(Frame::TooLong);
                    }
                }
                return None;
            };
            let end = self.scanned + pos;
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            self.scanned = 0;
            if std::mem::take(&mut self.discarding) {
                continue; // the tail of an over-long line
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                continue;
            }
            if line.len() > MAX_LINE {
                return Some(Frame::TooLong);
            }
            return Some(Frame::Line(match String::from_utf8(line) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut LineFramer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn lines_split_across_reads_come_out_whole() {
        let mut f = LineFramer::new();
        f.push(b"PING :tmi.twi");
        assert_eq!(frames(&mut f), []);
        f.push(b"tch.tv\r\n:a PRIVMSG #x :hi\r\n\r\n:b PRIV");
        assert_eq!(
            frames(&mut f),
            [
                Frame::Line("PING :tmi.twitch.tv".into()),
                Frame::Line(":a PRIVMSG #x :hi".into())
            ]
        );
        f.push(b"MSG #x :yo\n");
        assert_eq!(frames(&mut f), [Frame::Line(":b PRIVMSG #x :yo".into())]);
    }

    #[test]
    fn an_over_long_line_is_skipped_once_and_the_buffer_stays_bounded() {
        let mut f = LineFramer::new();
        f.push(&vec![b'a'; MAX_LINE + 10]);
        assert_eq!(frames(&mut f), [Frame::TooLong]);
        f.push(&vec![b'a'; MAX_LINE + 10]);
        assert_eq!(frames(&mut f), []);
        assert!(f.buf.len() <= MAX_LINE + 10);
        f.push(b"aaa\r\nPING :x\r\n");
        assert_eq!(frames(&mut f), [Frame::Line("PING :x".into())]);
    }
}
