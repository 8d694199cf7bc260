//! Command-line tools on the towline client: [towline-curl](#towline-curl) and
//! [towline-aria](#towline-aria).
//!
//! # towline-curl
//!
//! curl's command line for the flags people use, on [`towline::Client`]: every behaviour
//! (redirects, retries, cookies, Digest authentication, netrc, decompression, timings,
//! proxies, the rate limit, HSTS) is the client's, configured from the flags. The output and
//! the exit codes are curl's, so scripts written for curl keep working.
//!
//! ```text
//! towline-curl -sSfL -o page.html https://example.com/
//! towline-curl -d name=value -H 'X-Trace: 1' -w '%{http_code} %{time_total}\n' https://example.com/form
//! ```
//!
//! ## Flags
//!
//! | flags | what they do |
//! |---|---|
//! | URL..., `--url` | the URLs, fetched one after another (no scheme: `http://`) |
//! | `-X` | the method |
//! | `-H` | a header; `Name:` removes one curl would send, `Name;` sends it empty |
//! | `-d`/`--data`/`--data-ascii`, `--data-raw`, `--data-binary`, `--data-urlencode` | the body, pieces joined by `&` in command-line order; `@file` and `@-` (stdin), newlines stripped for `-d @file`; `Content-Type: application/x-www-form-urlencoded` |
//! | `--json` | the body as JSON, with `Content-Type` and `Accept` of `application/json` |
//! | `-F`, `--form-string` | a `multipart/form-data` body: `name=value`, `name=@file` (a file upload), `name=<file` (a value read from a file), `;type=`, `;filename=` |
//! | `-G` | the data in the query of a GET |
//! | `-A`, `-e` | `User-Agent`, `Referer` |
//! | `-u` with `--basic` (default) or `--digest`; `--oauth2-bearer` | credentials |
//! | `-n`/`--netrc`, `--netrc-optional`, `--netrc-file` | credentials from a netrc file |
//! | `-b` | cookies to send (`name=value`), or a Netscape cookie file to read (starts the cookie engine) |
//! | `-c` | the cookie engine, and its cookies written to a file in the Netscape format |
//! | `-L`, `--max-redirs`, `--post301`, `--post302`, `--post303` | follow redirects (50 at most unless told; `-1` for no limit); keep a POST a POST on those statuses |
//! | `-I`, `-i`, `-D` | HEAD; the head in the output; the head to a file (with `-L`, every redirect's head too) |
//! | `-v` | request and response heads on stderr (`>` and `<` lines), and connection facts (`*`) |
//! | `-s`, `-S` | silence, but errors |
//! | `-f`, `--fail-with-body` | exit 22 on statuses of 400 and above (without, or after, the body) |
//! | `-o`, `-O`, `--remote-name-all`, `-J` | the body to a file: named, after the URL, after `Content-Disposition` |
//! | `-w` | write-out after each transfer (below) |
//! | `--compressed`, `--raw` | ask for a compressed body and decode it; leave it encoded |
//! | `--connect-timeout`, `-m` | the connect timeout; the whole transfer's (body included) |
//! | `--retry`, `--retry-delay`, `--retry-max-time`, `--retry-all-errors`, `--retry-connrefused` | retries of transient failures: timeouts, 408, 429, 500, 502, 503, 504 |
//! | `-x`, `-U`/`--proxy-user`, `--noproxy`, `--socks5-hostname`, `--socks5`; `http_proxy`, `https_proxy`, `all_proxy`, `no_proxy` | proxies (HTTP, HTTPS, SOCKS4/4a/5/5h), 1080 the default port |
//! | `-k`, `--cacert`, `-E`/`--cert`, `--key`, `--tlsv1.2`, `--tlsv1.3`, `--tls-max` | TLS |
//! | `--http1.1`, `--http2`, `--http2-prior-knowledge`, `--http3`, `--http3-only` | HTTP versions (HTTP/3 with the `http3` feature, on by default) |
//! | `--limit-rate` | the download speed limit (`k`, `m`, `g` suffixes) |
//! | `--resolve HOST:PORT:ADDR` | an address for a name, without DNS |
//! | `--hsts FILE` | HSTS: the cache read from the file, used, and written back |
//! | `--alt-svc FILE` | HTTP/3 alternatives (`Alt-Svc`): the cache read from the file, learned into, used (the QUIC handshake racing TCP), and written back (feature `http3`) |
//!
//! `-w` knows `http_code`, `response_code`, `http_version`, `size_download`, `size_header`,
//! `time_namelookup`, `time_connect`, `time_appconnect`, `time_starttransfer`, `time_total`
//! (from the client's timings), `url`, `url_effective`, `method`, `scheme`,
//! `num_redirects`, `content_type`, `remote_ip`, `remote_port`, `exitcode` and
//! `errormsg`; `%header{name}` (a response header); `\n`, `\r`, `\t` and `%%`. `@file`
//! reads the format from a file.
//!
//! ## Exit codes
//!
//! curl's codes for the same failures. The client's [`towline::Error`] is read through its
//! kind and cause chain:
//!
//! | code | curl's name | when |
//! |---|---|---|
//! | 0 | `CURLE_OK` | the transfer worked (whatever the status, without `-f`) |
//! | 1 | `CURLE_UNSUPPORTED_PROTOCOL` | a URL scheme other than http and https; a redirect to one; an answer that is not HTTP (curl: "Received HTTP/0.9 when not allowed") |
//! | 2 | `CURLE_FAILED_INIT` | a bad flag or flag value, no URL, a client that could not be built; `--http3` in a build without the `http3` feature (as curl without HTTP/3) |
//! | 3 | `CURLE_URL_MALFORMAT` | a URL that does not parse ([`Error::is_builder`](towline::Error::is_builder)); a redirect whose `Location` does not |
//! | 5 | `CURLE_COULDNT_RESOLVE_PROXY` | [`is_dns`](towline::Error::is_dns) with a proxy in use |
//! | 6 | `CURLE_COULDNT_RESOLVE_HOST` | [`is_dns`](towline::Error::is_dns) |
//! | 7 | `CURLE_COULDNT_CONNECT` | [`is_connect`](towline::Error::is_connect) (refused, unreachable), a proxy that cannot be reached or has an unknown scheme |
//! | 18 | `CURLE_PARTIAL_FILE` | the body ended before its `Content-Length` |
//! | 22 | `CURLE_HTTP_RETURNED_ERROR` | `-f`/`--fail-with-body` and a status of 400 or more |
//! | 23 | `CURLE_WRITE_ERROR` | the output could not be written (a bad `-o` path, a closed stdout, no `-O` name) |
//! | 26 | `CURLE_READ_ERROR` | a `-F` file that cannot be read |
//! | 28 | `CURLE_OPERATION_TIMEDOUT` | [`is_timeout`](towline::Error::is_timeout): `--connect-timeout`, `-m` |
//! | 35 | `CURLE_SSL_CONNECT_ERROR` | [`is_tls`](towline::Error::is_tls), other than the certificate (protocol versions, alerts) |
//! | 47 | `CURLE_TOO_MANY_REDIRECTS` | [`is_redirect`](towline::Error::is_redirect), over `--max-redirs` |
//! | 52 | `CURLE_GOT_NOTHING` | the connection closed before any response |
//! | 56 | `CURLE_RECV_ERROR` | the connection failed while the response was read; a proxy refused `CONNECT` |
//! | 58 | `CURLE_SSL_CERTPROBLEM` | `--cert`/`--key` that cannot be read or used |
//! | 60 | `CURLE_PEER_FAILED_VERIFICATION` | [`is_tls`](towline::Error::is_tls) with a certificate rustls refused (unknown issuer, wrong name, expired) |
//! | 61 | `CURLE_BAD_CONTENT_ENCODING` | [`is_decode`](towline::Error::is_decode): a `--compressed` body that does not decode |
//! | 77 | `CURLE_SSL_CACERT_BADFILE` | a `--cacert` file that cannot be read or holds no certificate |
//! | 97 | `CURLE_PROXY` | a SOCKS handshake that failed ([`is_proxy`](towline::Error::is_proxy)) |
//!
//! curl has 67 (`CURLE_LOGIN_DENIED`) too, but not for HTTP: a 401 to wrong credentials
//! exits 0 (22 with `-f`) in curl and here.
//!
//! ## Where it differs from curl
//!
//! These differences are deliberate. The golden tests (`tests/golden.rs`, which run each
//! command line through curl too) allow for these and nothing else:
//!
//! - `User-Agent` is `towline-curl/VERSION`.
//! - `--compressed` asks with the client's `Accept-Encoding` (the codings compiled into
//!   towline, in its order); the decoded body is the same.
//! - A multipart body has towline's boundary (random in both); the parts — names, file
//!   names, types, contents — are curl's.
//! - A cookie set without `Path` gets RFC 6265's default path, the request path up to its
//!   last `/` without it (`/dir`, where curl stores `/dir/`); both send it to the same
//!   requests.
//! - With both `-b name=value` and a cookie file, the `Cookie` header lists the given cookies
//!   first, then the jar's (the cookie layer appends to a caller's header); curl lists the
//!   jar's first.
//! - `--digest` with a body sends the body with the first request too, the one the server
//!   answers with its challenge; curl sends that one empty.
//! - `--retry`: the retry layer drains a response it retries inside the client, so only the
//!   final response's body is written; curl writes each retried response's body too.
//! - `-v` shows the heads the client's verbose layer logs, which writes credentials
//!   (`Authorization`, `Cookie`, `Set-Cookie`) as `<redacted>`: a terminal log should not
//!   carry secrets. A request's `Content-Length` (or `Transfer-Encoding`) is not shown: the
//!   layer logs the head before the HTTP/1 writer adds it. Its `*` lines are fewer than
//!   curl's (the address, the protocol, the TLS handshake time), printed after the response
//!   head. There is no progress meter.
//! - Header names are shown as the client holds them (lower case); the values and their
//!   order are the server's.
//! - `--http2` on an `http://` URL sends HTTP/1.1 (no `Upgrade: h2c`); use
//!   `--http2-prior-knowledge` for h2c.
//! - `--http3` is `--http3-only`: the client speaks HTTP/3 to `https` URLs from the start,
//!   without curl's fallback to TCP. curl 7.88 (the golden tests' curl) has no HTTP/3, so
//!   these flags, and `--alt-svc`, are tested against towline's own HTTP/3 server instead.
//! - `--alt-svc FILE` writes every origin's ALPN as `h2` (the client does not record which
//!   TCP protocol taught it an alternative) and keeps `h3` alternatives only.
//! - `--raw` turns decompression off (with `--compressed`, the request still carries curl's
//!   `Accept-Encoding`); HTTP/1.1 chunked transfer coding is always decoded.
//! - Error messages on stderr start with `towline-curl:` and carry the client's wording.

//! # towline-aria
//!
//! aria2's command line for segmented, resumable downloads, on
//! [`Client::download`](towline::Client::download): each file over several connections, each
//! a byte range checked against the server's `Content-Range` and `If-Range`, written at its
//! offset.
//!
//! ```text
//! towline-aria -s 8 -x 8 -k 1M -d downloads https://example.com/big.iso
//! towline-aria -c --checksum=sha-256=9f86d0… -i uris.txt
//! ```
//!
//! | options | what they do |
//! |---|---|
//! | URI..., `-i FILE` | the downloads (`-i -`: stdin; `#` lines are comments) |
//! | `-d DIR`, `-o NAME` | where the file goes; its name (one URI only) |
//! | `-s N`, `-x N`, `-k SIZE` | connections per download (the smaller of the two), and the smallest range worth one |
//! | `-j N` | downloads at once |
//! | `-c` | continue an interrupted download from its state file |
//! | `--max-tries N`, `--retry-wait S`, `-t S`, `--connect-timeout S` | tries of a failed range or request, the wait between them, the read and connect timeouts |
//! | `--max-overall-download-limit`, `--max-download-limit` | speed limits (`K`, `M`): one limiter for all downloads, and one for each |
//! | `--header`, `--referer`, `-U`, `--http-user`, `--http-passwd` | request headers and Basic credentials |
//! | `--all-proxy` | a proxy for every download (HTTP, HTTPS, SOCKS) |
//! | `--ca-certificate` | a PEM file of certificate authorities trusted besides the built-in roots |
//! | `--checksum=TYPE=DIGEST` | `sha-256`, `sha-1` or `md5`, checked when the file is complete |
//! | `--auto-file-renaming[=BOOL]`, `--allow-overwrite[=BOOL]` | an existing file: saved around as `name.1.ext` (the default), replaced, or an error |
//! | `--dry-run[=BOOL]` | check with a `HEAD` that each URI is there; download nothing |
//! | `--file-allocation=none\|prealloc\|falloc\|trunc` | `none`: the file grows as ranges land; `trunc`: its full length at once, a sparse file; `prealloc` (the default) and `falloc`: its full length with the disk space reserved by `fallocate(2)` (aria2's `prealloc` writes zeros to the same end; where the file system has no `fallocate`, a sparse file) |
//! | `-q` | no output |
//!
//! A download is written to `NAME.part` (its state file beside it, `NAME.part.towline-state`)
//! and renamed to `NAME` once complete and, with `--checksum`, verified. A digest that does
//! not match leaves `NAME.part`. With `-c`, a `.part` whose state file says which ranges were
//! written is continued, and only when the server still has the same version (`ETag` or
//! `Last-Modified`, and length); a file without a state file is never taken as complete.
//! Ctrl-C stops every download and keeps their state files (exit code 7); `-c` then
//! fetches again only what was written after a range's last save (every 4 MiB it writes).
//!
//! The name comes from `-o`, else from the server's `Content-Disposition` (`filename*` of
//! RFC 8187 first, then `filename`), else from the URI's last path segment, else
//! `index.html`. A name from the network is cut to one plain file name — the part after the
//! last `/` or `\`, without control characters, never `.` or `..`, at most 255 bytes — so a
//! server cannot write outside `-d`.
//!
//! Exit codes are aria2's: 0 every download finished, 1 another error (a file that changed
//! on the server, a bad URI), 2 a timeout, 3 a 404, 6 a network problem, 7 interrupted with
//! downloads unfinished, 13 the file exists (neither renaming nor overwriting allowed), 17
//! the file could not be written or renamed, 18 the directory could not be created, 19 the
//! name did not resolve, 22 another error status, 24 a 401 or 403, 28 a bad option, 32 a
//! checksum mismatch. With several downloads, the last failure's code.
//!
//! While downloads run on a terminal, a live display shows a line per download (bytes,
//! percent, speed, ETA, connections) and an overall line; when stdout is not a terminal, or
//! with `-q`, it is hidden. A line per finished download and aria2's "Download Results"
//! table follow (not with `-q`).
//!

#![deny(unsafe_code)]

pub mod aria;
pub mod curl;
