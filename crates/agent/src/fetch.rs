//! The fetcher: puts a task's URIs into its sandbox before the command
//! starts, as Mesos's fetcher does. The supervisor runs it (as the task's
//! user, see `crate::driver::user`), never the agent, so a slow download
//! holds up only its own task.
//!
//! Each URI goes into the sandbox under its last path segment (or its
//! `output_file`, Marathon's `destPath`): `file://` URIs and absolute paths
//! are copied from the agent's disk, `http://` URLs are fetched with a
//! small blocking HTTP/1.1 GET (Content-Length, chunked or read-to-close
//! bodies, at most [`REDIRECTS`] redirects, only 200 accepted, every
//! connect and read bounded by a timeout). `https://` is refused: there
//! is no TLS here (the leader refuses it before launch too). `executable`
//! makes the file mode 0755; `extract` unpacks `.tar`, `.tar.gz`, `.tgz`,
//! `.tar.bz2`, `.tar.xz` and `.txz` with the `tar` command and `.zip` with
//! `unzip`, into the directory the archive was saved in (other files are
//! only fetched, as in Mesos). `cache` is accepted and ignored: there is no
//! fetcher cache, every URI is fetched anew for every task.
//!
//! Progress lines go to the task's stderr, like Mesos's fetcher's. The
//! first failure ends the fetch (and the task: TASK_FAILED with the
//! error, e.g. `fetch http://h:8000/x.tgz: HTTP 404 Not Found`).
//!
//! The decisions (which URI is fetchable and under what name: the core's
//! [`FetchUri::check`]; URL parsing, redirects, response framing,
//! archive kinds) are pure functions tested here; [`fetch_all`] is the
//! thin shell that does the IO.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use corral_api::native::FetchUri as LaunchUri;
use corral_core::task::{FetchUri, FetchUriError, UriSource};

/// Redirects followed per URI.
pub const REDIRECTS: usize = 5;
/// How long connecting to an HTTP server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP server may stay silent (per read or write).
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// A read waits this long at a time, so a kill is noticed while a server
/// is silent.
const READ_SLICE: Duration = Duration::from_millis(250);
/// The most a response head (status line and headers) may take.
const MAX_HEAD: usize = 64 * 1024;

/// Why a URI could not be fetched: `fetch URI: what went wrong`.
#[derive(Debug, thiserror::Error)]
#[error("fetch {uri}: {why}")]
pub struct FetchError {
    pub uri: String,
    pub why: Why,
}

/// What went wrong fetching one URI.
#[derive(Debug, thiserror::Error)]
pub enum Why {
    /// Not a URI corral fetches (the leader checks this before launch).
    #[error("the URI {0}")]
    Refused(#[from] FetchUriError),
    #[error("{0} is not an http:// URL corral can fetch")]
    BadUrl(String),
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("HTTP {}", status_text(*.status, .reason))]
    Status { status: u16, reason: String },
    #[error("more than {REDIRECTS} redirects")]
    TooManyRedirects,
    #[error(
        "redirected to {0}, which corral's fetcher cannot follow: it fetches http:// only (no TLS)"
    )]
    BadRedirect(String),
    #[error("bad HTTP response: {0}")]
    Protocol(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("cannot extract {archive}: {message}")]
    Extract { archive: String, message: String },
    #[error("stopped: the task is being killed")]
    Cancelled,
}

/// `404 Not Found`, or `500` when the server gave no reason.
fn status_text(status: u16, reason: &str) -> String {
    if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Why + '_ {
    move |e| Why::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// An archive kind [`fetch_all`] can unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    Zip,
}

/// The archive kind a file name says, if any (case-insensitive).
pub fn archive_kind(name: &str) -> Option<Archive> {
    let n = name.to_ascii_lowercase();
    let ends = |suffixes: &[&str]| suffixes.iter().any(|s| n.ends_with(s) && n.len() > s.len());
    if ends(&[".tar.gz", ".tgz"]) {
        Some(Archive::TarGz)
    } else if ends(&[".tar.bz2", ".tbz2"]) {
        Some(Archive::TarBz2)
    } else if ends(&[".tar.xz", ".txz"]) {
        Some(Archive::TarXz)
    } else if ends(&[".tar"]) {
        Some(Archive::Tar)
    } else if ends(&[".zip"]) {
        Some(Archive::Zip)
    } else {
        None
    }
}

/// The command that unpacks `archive` (of kind `kind`) into `dir`.
pub fn extract_command(kind: Archive, archive: &Path, dir: &Path) -> Command {
    let mut cmd;
    if kind == Archive::Zip {
        cmd = Command::new("unzip");
        cmd.arg("-o").arg("-q").arg(archive).arg("-d").arg(dir);
    } else {
        let flags = match kind {
            Archive::Tar => "-xf",
            Archive::TarGz => "-xzf",
            Archive::TarBz2 => "-xjf",
            Archive::TarXz => "-xJf",
            Archive::Zip => unreachable!("handled above"),
        };
        cmd = Command::new("tar");
        cmd.arg("--no-same-owner")
            .arg("-C")
            .arg(dir)
            .arg(flags)
            .arg(archive);
    }
    cmd
}

/// An `http://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// As the `Host` header gives it: `host` or `host:port`.
    pub authority: String,
    /// What to connect to (brackets of an IPv6 literal removed).
    pub host: String,
    pub port: u16,
    /// The request target: path and query, `/` at least.
    pub target: String,
}

/// Parses `http://HOST[:PORT][/PATH][?QUERY]` (a fragment is dropped).
pub fn parse_http_url(url: &str) -> Result<HttpUrl, Why> {
    let bad = || Why::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(bad());
    }
    let rest = &rest[..rest.find('#').unwrap_or(rest.len())];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => 80,
    };
    if host.is_empty() || target.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let target = match target {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    Ok(HttpUrl {
        authority: authority.to_string(),
        host: host.to_string(),
        port,
        target,
    })
}

/// The URL a redirect from `base` to `location` leads to.
pub fn resolve_redirect(base: &HttpUrl, location: &str) -> Result<String, Why> {
    let loc = location.trim();
    if let Some((scheme, _)) = loc.split_once("://") {
        if scheme.eq_ignore_ascii_case("http") {
            return Ok(loc.to_string());
        }
        if !scheme.contains(['/', '?']) {
            return Err(Why::BadRedirect(loc.to_string()));
        }
    }
    if let Some(rest) = loc.strip_prefix("//") {
        return Ok(format!("http://{rest}"));
    }
    if loc.starts_with('/') {
        return Ok(format!("http://{}{loc}", base.authority));
    }
    // Relative to the directory of the base path (its query dropped).
    let path = &base.target[..base.target.find('?').unwrap_or(base.target.len())];
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Ok(format!("http://{}{dir}{loc}", base.authority))
}

/// A response's status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// After this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// When the server closes the connection.
    UntilClose,
}

/// How the body of a response with `head` ends.
pub fn framing(head: &Head) -> Result<Framing, Why> {
    if let Some(te) = head.header("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or_default().trim();
        if last.eq_ignore_ascii_case("chunked") {
            return Ok(Framing::Chunked);
        }
        if !last.eq_ignore_ascii_case("identity") {
            return Err(Why::Protocol(format!(
                "Transfer-Encoding {te:?} is not supported"
            )));
        }
    }
    match head.header("content-length") {
        Some(n) => n
            .trim()
            .parse()
            .map(Framing::Length)
            .map_err(|_| Why::Protocol(format!("Content-Length {n:?} is not a number"))),
        None => Ok(Framing::UntilClose),
    }
}

/// One line of at most `limit` bytes, CRLF or LF removed; `None` at EOF.
fn read_line<R: BufRead>(r: &mut R, limit: usize) -> Result<Option<String>, Why> {
    let mut line = Vec::new();
    let n = r
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| Why::Protocol(e.to_string()))?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() > limit {
        return Err(Why::Protocol(
            "a line of the response head is too long".into(),
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| Why::Protocol("the response head is not text".into()))
}

/// Reads a response's status line and headers.
pub fn read_head<R: BufRead>(r: &mut R) -> Result<Head, Why> {
    let status_line = read_line(r, MAX_HEAD)?.ok_or_else(|| {
        Why::Protocol("the server closed the connection without answering".into())
    })?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/"), status) else {
        return Err(Why::Protocol(format!("status line {status_line:?}")));
    };
    let reason = parts.next().unwrap_or_default().trim().to_string();
    let mut headers = Vec::new();
    let mut size = status_line.len();
    loop {
        let line = read_line(r, MAX_HEAD)?
            .ok_or_else(|| Why::Protocol("the connection closed inside the headers".into()))?;
        if line.is_empty() {
            break;
        }
        size += line.len();
        if size > MAX_HEAD {
            return Err(Why::Protocol("the response head is too long".into()));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Why::Protocol(format!("header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Head {
        status,
        reason,
        headers,
    })
}

/// Copies up to `limit` bytes (all, if none) from `r` to `w`, checking
/// `cancelled` between reads; returns how many were copied.
fn copy<R: Read, W: Write>(
    r: &mut R,
    w: &mut W,
    limit: Option<u64>,
    cancelled: &dyn Fn() -> bool,
) -> Result<u64, Why> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0u64;
    loop {
        if cancelled() {
            return Err(Why::Cancelled);
        }
        let want = match limit {
            Some(l) if done >= l => return Ok(done),
            Some(l) => buf.len().min((l - done) as usize),
            None => buf.len(),
        };
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) if cancelled() => return Err(Why::Cancelled),
            Err(e) => return Err(Why::Protocol(format!("reading the body: {e}"))),
        };
        w.write_all(&buf[..n]).map_err(|e| Why::Io {
            path: "the output file".into(),
            message: e.to_string(),
        })?;
        done += n as u64;
    }
}

/// Copies a body framed as `framing` from `r` to `w`; returns its length.
pub fn copy_body<R: BufRead, W: Write>(
    framing: Framing,
    r: &mut R,
    w: &mut W,
    cancelled: &dyn Fn() -> bool,
) -> Result<u64, Why> {
    match framing {
        Framing::UntilClose => copy(r, w, None, cancelled),
        Framing::Length(n) => {
            let got = copy(r, w, Some(n), cancelled)?;
            if got < n {
                return Err(Why::Protocol(format!(
                    "the connection closed after {got} of {n} bytes"
                )));
            }
            Ok(got)
        }
        Framing::Chunked => {
            let mut total = 0u64;
            loop {
                let line = read_line(r, 1024)?.ok_or_else(|| {
                    Why::Protocol(format!(
                        "the connection closed inside a chunked body after {total} bytes"
                    ))
                })?;
                let size = line.split(';').next().unwrap_or_default().trim();
                let size = u64::from_str_radix(size, 16)
                    .map_err(|_| Why::Protocol(format!("chunk size {line:?}")))?;
                if size == 0 {
                    // Trailers, up to the empty line (or the end).
                    while let Some(l) = read_line(r, MAX_HEAD)? {
                        if l.is_empty() {
                            break;
                        }
                    }
                    return Ok(total);
                }
                let got = copy(r, w, Some(size), cancelled)?;
                total += got;
                if got < size {
                    return Err(Why::Protocol(format!(
                        "the connection closed inside a chunk after {total} bytes"
                    )));
                }
                match read_line(r, 2)? {
                    Some(l) if l.is_empty() => {}
                    _ => return Err(Why::Protocol("a chunk does not end in CRLF".into())),
                }
            }
        }
    }
}

/// GETs `url` into `out`, following redirects; returns the body's length.
fn download(url: &str, out: &mut File, cancelled: &dyn Fn() -> bool) -> Result<u64, Why> {
    let mut url = parse_http_url(url)?;
    for _ in 0..=REDIRECTS {
        let stream = connect(&url)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: corral-fetcher/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            url.target,
            url.authority,
            env!("CARGO_PKG_VERSION")
        );
        (&stream)
            .write_all(request.as_bytes())
            .map_err(|e| Why::Connect {
                addr: url.authority.clone(),
                message: e.to_string(),
            })?;
        let mut r = BufReader::new(Watched {
            stream,
            cancelled,
            slices: (IO_TIMEOUT.as_millis() / READ_SLICE.as_millis()) as u32,
        });
        let head = read_head(&mut r).map_err(|e| if cancelled() { Why::Cancelled } else { e })?;
        match head.status {
            200 => return copy_body(framing(&head)?, &mut r, out, cancelled),
            301 | 302 | 303 | 307 | 308 => {
                let location = head.header("location").ok_or_else(|| {
                    Why::Protocol(format!("HTTP {} without a Location header", head.status))
                })?;
                url = parse_http_url(&resolve_redirect(&url, location)?)?;
            }
            status => {
                return Err(Why::Status {
                    status,
                    reason: head.reason,
                })
            }
        }
    }
    Err(Why::TooManyRedirects)
}

/// A socket read in slices of [`READ_SLICE`]: between slices it asks
/// `cancelled`, and it gives up after `slices` silent ones (IO_TIMEOUT).
struct Watched<'a> {
    stream: TcpStream,
    cancelled: &'a dyn Fn() -> bool,
    slices: u32,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for _ in 0..self.slices.max(1) {
            match self.stream.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if (self.cancelled)() {
                        return Err(std::io::Error::other("the task is being killed"));
                    }
                }
                other => return other,
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the server sent nothing for {} s", IO_TIMEOUT.as_secs()),
        ))
    }
}

fn connect(url: &HttpUrl) -> Result<TcpStream, Why> {
    let fail = |message: String| Why::Connect {
        addr: url.authority.clone(),
        message,
    };
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?;
    let mut last = "the host name resolves to no address".to_string();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(READ_SLICE))
                    .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)))
                    .map_err(|e| fail(e.to_string()))?;
                return Ok(s);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(last))
}

/// Copies a file of this machine into `out`.
fn copy_local(src: &str, out: &mut File, cancelled: &dyn Fn() -> bool) -> Result<u64, Why> {
    let path = Path::new(src);
    let mut f = File::open(path).map_err(io_err(path))?;
    let meta = f.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(Why::Io {
            path: src.to_string(),
            message: "not a regular file (fetch files or archives, not directories)".into(),
        });
    }
    copy(&mut f, out, None, cancelled)
}

/// Makes `sandbox/output` afresh (not through a link left under its name).
fn create_output(sandbox: &Path, output: &str) -> Result<(PathBuf, File), Why> {
    let path = sandbox.join(output);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io_err(&path))?;
    Ok((path, file))
}

/// Fetches one URI into `sandbox`; progress lines go to `log`.
fn fetch_one(
    sandbox: &Path,
    uri: &LaunchUri,
    log: &mut dyn Write,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), Why> {
    let checked = FetchUri {
        uri: uri.uri.clone(),
        output_file: uri.output_file.clone(),
        ..Default::default()
    }
    .check()?;
    let (path, mut out) = create_output(sandbox, &checked.output)?;
    let bytes = match &checked.source {
        UriSource::Http(url) => {
            let _ = writeln!(
                log,
                "Downloading resource from '{url}' to '{}'",
                path.display()
            );
            download(url, &mut out, cancelled)?
        }
        UriSource::Local(src) => {
            let _ = writeln!(log, "Copying resource from '{src}' to '{}'", path.display());
            copy_local(src, &mut out, cancelled)?
        }
    };
    out.flush().map_err(io_err(&path))?;
    if uri.executable {
        out.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(&path))?;
    }
    drop(out);
    let _ = writeln!(
        log,
        "Fetched '{}' to '{}' ({bytes} bytes)",
        uri.uri,
        path.display()
    );
    if !uri.extract {
        return Ok(());
    }
    let Some(kind) = archive_kind(&checked.output) else {
        return Ok(());
    };
    let dir = path.parent().unwrap_or(sandbox);
    let mut cmd = extract_command(kind, &path, dir);
    let shown = format!("{cmd:?}").replace('"', "'");
    let _ = writeln!(log, "Extracting with command: {shown}");
    let archive = path.display().to_string();
    let tool = if kind == Archive::Zip { "unzip" } else { "tar" };
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Why::Extract {
            archive: archive.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "the `{tool}` command is not installed on this agent; install it{}",
                    if tool == "unzip" {
                        ", or fetch a tar archive instead"
                    } else {
                        ""
                    }
                )
            } else {
                format!("cannot run `{tool}`: {e}")
            },
        })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim().lines().last().unwrap_or_default();
        return Err(Why::Extract {
            archive,
            message: format!("`{tool}` failed ({}): {said}", output.status),
        });
    }
    let _ = writeln!(
        log,
        "Extracted '{}' into '{}'",
        path.display(),
        dir.display()
    );
    Ok(())
}

/// Fetches `uris` into `sandbox`, in order, stopping at the first failure
/// or when `cancelled` says so. Progress lines go to `log` (the task's
/// stderr).
pub fn fetch_all(
    sandbox: &Path,
    uris: &[LaunchUri],
    log: &mut dyn Write,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), FetchError> {
    for uri in uris {
        let _ = writeln!(log, "Fetching URI '{}'", uri.uri);
        let _ = writeln!(log, "Fetching directly into the sandbox directory");
        fetch_one(sandbox, uri, log, cancelled).map_err(|why| FetchError {
            uri: uri.uri.clone(),
            why,
        })?;
    }
    if !uris.is_empty() {
        let _ = writeln!(
            log,
            "Successfully fetched all URIs into '{}'",
            sandbox.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn archive_kinds_issue_4() {
        let cases = [
            ("app.tar", Some(Archive::Tar)),
            ("app.tar.gz", Some(Archive::TarGz)),
            ("APP.TGZ", Some(Archive::TarGz)),
            ("app.tar.bz2", Some(Archive::TarBz2)),
            ("app.tar.xz", Some(Archive::TarXz)),
            ("app.txz", Some(Archive::TarXz)),
            ("app.zip", Some(Archive::Zip)),
            ("app.gz", None),
            ("run.sh", None),
            (".tgz", None),
            ("tar", None),
        ];
        for (name, want) in cases {
            assert_eq!(archive_kind(name), want, "{name}");
        }
        let cmd = extract_command(Archive::TarGz, Path::new("/s/a.tgz"), Path::new("/s"));
        assert_eq!(
            format!("{cmd:?}"),
            r#""tar" "--no-same-owner" "-C" "/s" "-xzf" "/s/a.tgz""#
        );
        let cmd = extract_command(Archive::Zip, Path::new("/s/a.zip"), Path::new("/s"));
        assert_eq!(
            format!("{cmd:?}"),
            r#""unzip" "-o" "-q" "/s/a.zip" "-d" "/s""#
        );
    }

    /// One case a line, split by ` | `: the URL and `authority host port
    /// target` or the error.
    #[test]
    fn http_urls_issue_4() {
        let table = r#"
            http://127.0.0.1:8000/x.tgz      | 127.0.0.1:8000 127.0.0.1 8000 /x.tgz
            http://example.com               | example.com example.com 80 /
            HTTP://h/a/b?c=d#frag            | h h 80 /a/b?c=d
            http://h?q                       | h h 80 /?q
            http://[::1]:9000/x              | [::1]:9000 ::1 9000 /x
            http://[::1]/x                   | [::1] ::1 80 /x
            http://user:pw@h/x               | http://user:pw@h/x is not an http:// URL corral can fetch
            http://h:0/x                     | http://h:0/x is not an http:// URL corral can fetch
            http://h:99999/x                 | http://h:99999/x is not an http:// URL corral can fetch
            http:///x                        | http:///x is not an http:// URL corral can fetch
            https://h/x                      | https://h/x is not an http:// URL corral can fetch
            h/x                              | h/x is not an http:// URL corral can fetch
        "#;
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (url, want) = line.split_once(" | ").expect("2 columns");
            let got = match parse_http_url(url.trim()) {
                Ok(u) => format!("{} {} {} {}", u.authority, u.host, u.port, u.target),
                Err(e) => e.to_string(),
            };
            assert_eq!(got, want.trim(), "case: {line}");
        }
    }

    /// One case a line: the URL fetched, the Location it answered, and
    /// where that leads.
    #[test]
    fn redirects_issue_4() {
        let table = r#"
            http://h:81/a/b.tgz?x | http://o/c.tgz  | http://o/c.tgz
            http://h:81/a/b.tgz?x | //o:82/c        | http://o:82/c
            http://h:81/a/b.tgz?x | /c/d.tgz        | http://h:81/c/d.tgz
            http://h:81/a/b.tgz?x | c.tgz           | http://h:81/a/c.tgz
            http://h:81/b.tgz     | c.tgz?y         | http://h:81/c.tgz?y
            http://h:81/a/b.tgz   | https://o/c.tgz | redirected to https://o/c.tgz, which corral's fetcher cannot follow: it fetches http:// only (no TLS)
            http://h:81/a/b.tgz   | ftp://o/c.tgz   | redirected to ftp://o/c.tgz, which corral's fetcher cannot follow: it fetches http:// only (no TLS)
        "#;
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let [base, location, want] = cols[..] else {
                panic!("3 columns: {line}");
            };
            let got = match resolve_redirect(&parse_http_url(base).unwrap(), location) {
                Ok(u) => u,
                Err(e) => e.to_string(),
            };
            assert_eq!(got, want, "case: {line}");
        }
    }

    /// A raw response in (`\r\n` written as `|`), what the fetcher makes
    /// of it out: `200 body` or the error.
    fn response(raw: &str) -> String {
        let raw = raw.replace('|', "\r\n");
        let mut r = Cursor::new(raw.into_bytes());
        let result = read_head(&mut r).and_then(|head| {
            if head.status != 200 {
                return Err(Why::Status {
                    status: head.status,
                    reason: head.reason,
                });
            }
            let mut body = Vec::new();
            copy_body(framing(&head)?, &mut r, &mut body, &|| false)?;
            Ok(format!("200 {}", String::from_utf8_lossy(&body)))
        });
        result.unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn responses_issue_4() {
        let cases = [
            ("HTTP/1.1 200 OK|Content-Length: 5||hello+more", "200 hello"),
            ("HTTP/1.1 200 OK|Server: x||until close", "200 until close"),
            (
                "HTTP/1.1 200 OK|Transfer-Encoding: chunked||5;ext=1|hello|6| world|0|X-T: 1||",
                "200 hello world",
            ),
            (
                "HTTP/1.1 200 OK|transfer-encoding: Chunked||3|abc|0|",
                "200 abc",
            ),
            (
                "HTTP/1.1 404 Not Found|Content-Length: 0||",
                "HTTP 404 Not Found",
            ),
            ("HTTP/1.1 500 |Content-Length: 0||", "HTTP 500"),
            (
                "HTTP/1.1 200 OK|Content-Length: 10||short",
                "bad HTTP response: the connection closed after 5 of 10 bytes",
            ),
            (
                "HTTP/1.1 200 OK|Transfer-Encoding: chunked||5|hel",
                "bad HTTP response: the connection closed inside a chunk after 3 bytes",
            ),
            (
                "HTTP/1.1 200 OK|Transfer-Encoding: chunked||zz|",
                "bad HTTP response: chunk size \"zz\"",
            ),
            (
                "HTTP/1.1 200 OK|Transfer-Encoding: chunked||3|abcX",
                "bad HTTP response: a chunk does not end in CRLF",
            ),
            (
                "HTTP/1.1 200 OK|Transfer-Encoding: gzip||x",
                "bad HTTP response: Transfer-Encoding \"gzip\" is not supported",
            ),
            (
                "HTTP/1.1 200 OK|Content-Length: many||x",
                "bad HTTP response: Content-Length \"many\" is not a number",
            ),
            (
                "SSH-2.0-OpenSSH|",
                "bad HTTP response: status line \"SSH-2.0-OpenSSH\"",
            ),
            (
                "",
                "bad HTTP response: the server closed the connection without answering",
            ),
            (
                "HTTP/1.1 200 OK|Content-Length: 1",
                "bad HTTP response: the connection closed inside the headers",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(response(raw), want, "response {raw:?}");
        }
    }

    /// Serves `connections` requests on 127.0.0.1 from a thread: the path
    /// picks a canned response. Returns the server's address.
    fn serve(connections: usize) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let mut stream = stream.unwrap();
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let head = read_line(&mut r, 4096).unwrap().unwrap();
                while !read_line(&mut r, 4096).unwrap().unwrap().is_empty() {}
                let path = head.split(' ').nth(1).unwrap_or_default();
                let answer = match path {
                    "/x.txt" => "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nplain\n",
                    "/chunked.txt" => {
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nchun\r\n4\r\nked\n\r\n0\r\n\r\n"
                    }
                    "/moved" => "HTTP/1.1 302 Found\r\nLocation: /x.txt\r\nContent-Length: 0\r\n\r\n",
                    "/loop" => "HTTP/1.1 301 Moved\r\nLocation: loop\r\nContent-Length: 0\r\n\r\n",
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn fetches_over_http_issue_4() {
        // 1 + 1 + 2 (a redirect) + 6 (the first try and 5 redirects) + 1.
        let addr = serve(11);
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path();
        let uri = |path: &str, out: Option<&str>| LaunchUri {
            uri: format!("http://{addr}{path}"),
            output_file: out.map(str::to_string),
            ..Default::default()
        };
        let ok = [
            uri("/x.txt", None),
            uri("/chunked.txt", None),
            uri("/moved", Some("via-redirect.txt")),
        ];
        let mut log = Vec::new();
        fetch_all(sandbox, &ok, &mut log, &|| false).unwrap();
        let read = |name: &str| std::fs::read_to_string(sandbox.join(name)).unwrap();
        assert_eq!(read("x.txt"), "plain\n");
        assert_eq!(read("chunked.txt"), "chunked\n");
        assert_eq!(read("via-redirect.txt"), "plain\n");
        let log = String::from_utf8(log).unwrap();
        assert!(
            log.contains(&format!(
                "Downloading resource from 'http://{addr}/x.txt' to '"
            )),
            "{log}"
        );
        for (u, want) in [
            (
                uri("/loop", None),
                format!("fetch http://{addr}/loop: more than 5 redirects"),
            ),
            (
                uri("/nothing.tgz", None),
                format!("fetch http://{addr}/nothing.tgz: HTTP 404 Not Found"),
            ),
        ] {
            let err = fetch_all(sandbox, &[u], &mut Vec::new(), &|| false).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn a_kill_stops_a_copy() {
        let mut r = Cursor::new(vec![0u8; 1 << 20]);
        let got = copy_body(Framing::UntilClose, &mut r, &mut Vec::new(), &|| true);
        assert!(matches!(got, Err(Why::Cancelled)), "{got:?}");
    }

    #[test]
    fn fetches_local_files_and_archives_issue_4() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::create_dir_all(&sandbox).unwrap();
        std::fs::write(src.join("run.sh"), "echo hi\n").unwrap();
        std::fs::write(src.join("pkg/data.txt"), "payload\n").unwrap();
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&src)
            .arg("-czf")
            .arg(src.join("pkg.tar.gz"))
            .arg("pkg")
            .status()
            .unwrap();
        assert!(tar.success());
        let uri = |u: String, executable, extract, out: Option<&str>| LaunchUri {
            uri: u,
            executable,
            extract,
            cache: true,
            output_file: out.map(str::to_string),
        };
        let uris = [
            uri(
                format!("file://{}", src.join("run.sh").display()),
                true,
                true,
                None,
            ),
            uri(
                src.join("pkg.tar.gz").display().to_string(),
                false,
                true,
                None,
            ),
            uri(
                src.join("pkg.tar.gz").display().to_string(),
                false,
                false,
                Some("keep/p.tgz"),
            ),
        ];
        let mut log = Vec::new();
        fetch_all(&sandbox, &uris, &mut log, &|| false).unwrap();
        let mode = std::fs::metadata(sandbox.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_to_string(sandbox.join("pkg/data.txt")).unwrap(),
            "payload\n"
        );
        assert!(sandbox.join("keep/p.tgz").is_file());
        assert!(
            !sandbox.join("keep/pkg").exists(),
            "extract: false keeps it packed"
        );
        let log = String::from_utf8(log).unwrap();
        assert!(log.contains("Extracted '"), "{log}");
        assert!(
            log.ends_with(&format!(
                "Successfully fetched all URIs into '{}'\n",
                sandbox.display()
            )),
            "{log}"
        );

        // A missing file, a directory, a broken archive: each a clear error.
        let cases = [
            (uri("/no/such/file".into(), false, true, None), "fetch /no/such/file: /no/such/file: No such file or directory (os error 2)".to_string()),
            (
                uri(src.display().to_string(), false, true, Some("d")),
                format!("fetch {0}: {0}: not a regular file (fetch files or archives, not directories)", src.display()),
            ),
            (
                uri(format!("file://{}", src.join("run.sh").display()), false, true, Some("bad.tgz")),
                format!("fetch file://{}: cannot extract {}: `tar` failed", src.join("run.sh").display(), sandbox.join("bad.tgz").display()),
            ),
            (uri("https://h/x".into(), false, true, None), "fetch https://h/x: the URI is https, and corral's fetcher has no TLS: serve the file over http:// or copy it to the agents and give file:///PATH".to_string()),
        ];
        for (u, want) in cases {
            let err = fetch_all(&sandbox, &[u], &mut Vec::new(), &|| false).unwrap_err();
            assert!(err.to_string().starts_with(&want), "{err}\nwant: {want}");
        }
    }
}
