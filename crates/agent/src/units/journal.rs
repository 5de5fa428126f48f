//! A unit's journal: the stdout and stderr of all its commands and its
//! lifecycle lines, in `DIR/journal`, each line prefixed like journalctl's
//! short format (`Mar 05 14:03:12 m1 sh[1234]: hello`). Bounded: past
//! [`LIMIT`] bytes the file becomes `journal.1` (one old file is kept).
//!
//! [`Journal`] appends (only the unit's supervisor writes, or the manager
//! before one runs); [`tail`] and [`Follower`] read, from any process.
//! [`prefix`] and [`Lines`] are pure.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const JOURNAL: &str = "journal";
pub const JOURNAL_OLD: &str = "journal.1";
/// The size at which the journal rotates.
pub const LIMIT: u64 = 1024 * 1024;
/// Longer output lines are cut into pieces of this many bytes.
pub const MAX_LINE: usize = 16 * 1024;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A wall-clock time broken down (local time), as the prefix shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// 0 = January.
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Stamp {
    /// Now, in local time.
    pub fn now() -> Stamp {
        // SAFETY: time(2) and localtime_r(3) write only into our locals.
        unsafe {
            let t = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&t, &mut tm);
            Stamp {
                month: tm.tm_mon.clamp(0, 11) as u32,
                day: tm.tm_mday as u32,
                hour: tm.tm_hour as u32,
                minute: tm.tm_min as u32,
                second: tm.tm_sec as u32,
            }
        }
    }
}

/// `Mar 05 14:03:12 HOST IDENT[PID]: ` (journalctl's short format).
pub fn prefix(at: Stamp, host: &str, ident: &str, pid: u32) -> String {
    format!(
        "{} {:02} {:02}:{:02}:{:02} {host} {ident}[{pid}]: ",
        MONTHS[at.month as usize % 12],
        at.day,
        at.hour,
        at.minute,
        at.second
    )
}

/// Cuts a byte stream into lines: complete lines come out as they end; a
/// line longer than `max` comes out in pieces; [`Lines::finish`] gives the
/// unterminated rest.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
    max: usize,
    /// The last line came out cut at `max`: a newline right after it ends
    /// that line, not another (empty) one.
    cut: bool,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            partial: Vec::new(),
            max: max.max(1),
            cut: false,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if std::mem::take(&mut self.cut) && bytes[0] == b'\n' {
                bytes = &bytes[1..];
                continue;
            }
            let room = self.max - self.partial.len();
            match bytes.iter().take(room).position(|b| *b == b'\n') {
                Some(i) => {
                    self.partial.extend_from_slice(&bytes[..i]);
                    out.push(self.take());
                    bytes = &bytes[i + 1..];
                }
                None => {
                    let n = room.min(bytes.len());
                    self.partial.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if self.partial.len() >= self.max {
                        out.push(self.take());
                        self.cut = true;
                    }
                }
            }
        }
        out
    }

    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        line
    }
}

/// The writer of one unit's journal.
pub struct Journal {
    dir: PathBuf,
    host: String,
    limit: u64,
    file: Mutex<Option<(File, u64)>>,
}

impl Journal {
    pub fn new(dir: &Path, host: &str, limit: u64) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            host: host.to_string(),
            limit,
            file: Mutex::new(None),
        }
    }

    /// Appends `line` as written by `ident[pid]`. A journal that cannot be
    /// written loses the line (the unit runs on).
    pub fn append(&self, ident: &str, pid: u32, line: &str) {
        let mut text = prefix(Stamp::now(), &self.host, ident, pid);
        text.push_str(line);
        text.push('\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = self.write(&mut guard, text.as_bytes()) {
            *guard = None;
            eprintln!("corral unit-supervise: journal {}: {e}", self.dir.display());
        }
    }

    fn write(&self, slot: &mut Option<(File, u64)>, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.dir.join(JOURNAL);
        if slot.is_none() {
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            let size = f.metadata()?.len();
            *slot = Some((f, size));
        }
        let size = slot.as_ref().map_or(0, |(_, s)| *s);
        if size > 0 && size + bytes.len() as u64 > self.limit {
            std::fs::rename(&path, self.dir.join(JOURNAL_OLD))?;
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            *slot = Some((f, 0));
        }
        let (f, size) = slot.as_mut().expect("opened above");
        f.write_all(bytes)?;
        *size += bytes.len() as u64;
        Ok(())
    }
}

fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

fn last_lines(text: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The last `n` lines of `dir`'s journal (the old file included).
pub fn tail(dir: &Path, n: usize) -> std::io::Result<Vec<String>> {
    Ok(tail_and_follow(dir, n)?.0)
}

/// The last `n` lines, and a [`Follower`] that goes on exactly where they
/// end.
pub fn tail_and_follow(dir: &Path, n: usize) -> std::io::Result<(Vec<String>, Follower)> {
    let path = dir.join(JOURNAL);
    let (ino, current) = match File::open(&path) {
        Ok(mut f) => {
            let ino = f.metadata()?.ino();
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            (Some(ino), buf)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, Vec::new()),
        Err(e) => return Err(e),
    };
    // Only whole lines count as read; a partial one comes with the follower.
    let whole = current
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let mut text = Vec::new();
    if n > 0 && current[..whole].iter().filter(|b| **b == b'\n').count() < n {
        text = read_from(&dir.join(JOURNAL_OLD), 0)?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
    }
    text.extend_from_slice(&current[..whole]);
    let lines = if n == 0 {
        Vec::new()
    } else {
        last_lines(&text, n)
    };
    Ok((
        lines,
        Follower {
            dir: dir.to_path_buf(),
            ino,
            offset: whole as u64,
            lines: Lines::new(usize::MAX / 2),
        },
    ))
}

/// Reads a journal's new lines as they are written, across rotations.
pub struct Follower {
    dir: PathBuf,
    /// The journal file being read (`None`: none existed yet).
    ino: Option<u64>,
    offset: u64,
    lines: Lines,
}

impl Follower {
    /// The complete lines written since the last call.
    pub fn poll(&mut self) -> std::io::Result<Vec<String>> {
        let path = self.dir.join(JOURNAL);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        if self.ino != Some(meta.ino()) {
            // Rotated: finish the old file (now journal.1), then start over.
            if let Some(old_ino) = self.ino {
                let old = self.dir.join(JOURNAL_OLD);
                if std::fs::metadata(&old).is_ok_and(|m| m.ino() == old_ino) {
                    out.extend(self.lines.push(&read_from(&old, self.offset)?));
                }
            }
            self.ino = Some(meta.ino());
            self.offset = 0;
        }
        if meta.len() < self.offset {
            self.offset = 0;
        }
        let bytes = read_from(&path, self.offset)?;
        self.offset += bytes.len() as u64;
        out.extend(self.lines.push(&bytes));
        Ok(out)
    }

    /// True once the unit's directory is gone (the unit was removed).
    pub fn gone(&self) -> bool {
        !self.dir.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_look_like_journalctl() {
        let at = Stamp {
            month: 2,
            day: 5,
            hour: 14,
            minute: 3,
            second: 9,
        };
        assert_eq!(
            prefix(at, "m1", "sh", 1234),
            "Mar 05 14:03:09 m1 sh[1234]: "
        );
    }

    #[test]
    fn lines_from_a_stream() {
        // (longest line, chunks pushed, lines out after each, what finish gives)
        type Case<'a> = (usize, &'a [&'a str], &'a [&'a [&'a str]], Option<&'a str>);
        let cases: &[Case] = &[
            (80, &["a\nb\n"], &[&["a", "b"]], None),
            (
                80,
                &["hel", "lo\nwor", "ld"],
                &[&[], &["hello"], &[]],
                Some("world"),
            ),
            (80, &["\n\n"], &[&["", ""]], None),
            (4, &["abcdefghij\n"], &[&["abcd", "efgh", "ij"]], None),
            (4, &["abcd", "\n"], &[&["abcd"], &[]], None),
            (4, &["abcdefgh\nxy\n"], &[&["abcd", "efgh", "xy"]], None),
            (4, &["abcd", "x\n"], &[&["abcd"], &["x"]], None),
            (4, &["ab", "cdef"], &[&[], &["abcd"]], Some("ef")),
        ];
        for (max, chunks, want, rest) in cases {
            let mut l = Lines::new(*max);
            for (chunk, want) in chunks.iter().zip(want.iter()) {
                assert_eq!(l.push(chunk.as_bytes()), *want, "chunks {chunks:?}");
            }
            assert_eq!(l.finish().as_deref(), *rest, "chunks {chunks:?}");
        }
    }

    fn bodies(lines: Vec<String>) -> Vec<String> {
        lines
            .into_iter()
            .map(|l| l.split_once("]: ").map(|(_, b)| b.to_string()).unwrap_or(l))
            .collect()
    }

    #[test]
    fn rotates_tails_and_follows() {
        let dir = tempfile::tempdir().unwrap();
        let (none, mut follower) = tail_and_follow(dir.path(), 10).unwrap();
        assert!(none.is_empty());
        // Room for about three lines a file.
        let j = Journal::new(dir.path(), "m1", 100);
        for i in 1..=4 {
            j.append("sh", 7, &format!("line {i}"));
        }
        assert!(dir.path().join(JOURNAL_OLD).exists(), "rotated");
        assert!(std::fs::metadata(dir.path().join(JOURNAL)).unwrap().len() <= 100);
        assert_eq!(
            bodies(follower.poll().unwrap()),
            ["line 4"],
            "the follower started on no file, so it reads the new one"
        );
        assert_eq!(bodies(tail(dir.path(), 2).unwrap()), ["line 3", "line 4"]);
        assert_eq!(
            bodies(tail(dir.path(), 10).unwrap()),
            ["line 1", "line 2", "line 3", "line 4"],
            "the old file is read too"
        );
        let (last, mut follower) = tail_and_follow(dir.path(), 1).unwrap();
        assert_eq!(bodies(last), ["line 4"]);
        assert!(follower.poll().unwrap().is_empty());
        for i in 5..=8 {
            j.append("sh", 7, &format!("line {i}"));
        }
        assert_eq!(
            bodies(follower.poll().unwrap()),
            ["line 5", "line 6", "line 7", "line 8"],
            "across a rotation"
        );
        let l = tail(dir.path(), 1).unwrap();
        assert!(l[0].ends_with(" m1 sh[7]: line 8"), "{l:?}");
        assert!(!follower.gone());
    }
}
