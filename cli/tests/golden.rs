//! Golden tests: every command line below runs through curl (Debian's `/usr/bin/curl`, or
//! `TOWLINE_CURL`) and through towline-curl, against the same in-process servers, and the
//! two must agree on the exit code, stdout, the requests the servers and proxies saw, the
//! files written and the cookie jar and HSTS cache.
//!
//! A missing curl fails the test: it never passes without comparing.
//!
//! What is allowed to differ, and why (also in the crate documentation):
//! - `User-Agent`: each tool names itself (compared where `-A` sets it).
//! - The value of `Accept-Encoding` under `--compressed`: each asks for the codings it has.
//! - The multipart boundary, and so `Content-Length` of multipart bodies: random in both;
//!   the parts themselves are compared.
//! - Digest `cnonce`, `nonce` and `response`: random per request.
//! - Expiry times in the HSTS cache: each tool computes them from `max-age` at its own second.
//! - `date` response headers and the run's path prefix (`/rN`), which differ per run.
//! - The comment lines of cookie jar and HSTS files.
//! - A cookie's default path (no `Path` attribute): curl keeps the request path up to and
//!   with its last `/`, towline's jar follows RFC 6265 §5.1.4 and drops that `/`. Both send
//!   the cookie to the same requests; jar lines are compared without a path's trailing `/`.
//! - With both `-b name=value` and a cookie file, towline's cookie layer appends the jar's
//!   cookies to the caller's `Cookie` header, curl puts the jar's first: the pairs are
//!   compared, not their order.
//! - `--digest` with a body: curl sends the first request (the one that gets the challenge)
//!   without the body; towline's Digest layer sends the body both times. The exit code and
//!   stdout are compared, the requests are not.
//! - `--retry`: curl writes the body of each response it retries (a 503's, say) before the
//!   final one; towline's retry layer drains a retried response inside the client, so only
//!   the final body is written. The requests and exit code are compared; stdout is not.
//! - `-v`: the `*` lines, the data lines curl adds, header names' case, and a request's
//!   `Content-Length` or `Transfer-Encoding`: the client's verbose layer logs a request's
//!   head before the HTTP/1 writer adds how the body is framed. The `>` and `<` lines are
//!   compared otherwise, in order.
//! - stderr, but for `-s` (both silent), `-sS` (both say something) and `-v` (above).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use support::{Outcome, Seen, Servers};
use tokio::sync::Semaphore;
use towline_test_support::{Blackhole, HttpProxy, RawServer, SocksServer, TestServer};

/// A proxy (or none) each run gets a fresh one of, so each run's proxy log is its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixture {
    None,
    HttpProxy,
    HttpProxyAuth,
    Socks,
    SocksRefusing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stderr {
    Any,
    Empty,
    NotEmpty,
}

#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    args: Vec<&'static str>,
    stdin: Option<&'static [u8]>,
    files: Vec<(&'static str, Vec<u8>)>,
    outputs: Vec<&'static str>,
    jar: Option<&'static str>,
    hsts: Option<&'static str>,
    fixture: Fixture,
    env: Vec<(&'static str, &'static str)>,
    stderr: Stderr,
    keep_user_agent: bool,
    expect_code: Option<i32>,
    /// Why stdout is not compared (one of the differences listed above).
    stdout_differs: Option<&'static str>,
    /// Why the requests the server saw are not compared (one of the differences above).
    requests_differ: Option<&'static str>,
    /// The pairs of `Cookie` headers are compared as sets (see above).
    unordered_cookies: bool,
    /// The `>` and `<` heads `-v` writes on stderr are compared.
    verbose: bool,
}

fn case(name: &'static str, args: &[&'static str]) -> Case {
    Case {
        name,
        args: args.to_vec(),
        stdin: None,
        files: Vec::new(),
        outputs: Vec::new(),
        jar: None,
        hsts: None,
        fixture: Fixture::None,
        env: Vec::new(),
        stderr: Stderr::Any,
        keep_user_agent: false,
        expect_code: None,
        stdout_differs: None,
        requests_differ: None,
        unordered_cookies: false,
        verbose: false,
    }
}

impl Case {
    fn stdin(mut self, data: &'static [u8]) -> Self {
        self.stdin = Some(data);
        self
    }
    fn file(mut self, name: &'static str, content: impl Into<Vec<u8>>) -> Self {
        self.files.push((name, content.into()));
        self
    }
    fn outputs(mut self, names: &[&'static str]) -> Self {
        self.outputs.extend_from_slice(names);
        self
    }
    fn jar(mut self, name: &'static str) -> Self {
        self.jar = Some(name);
        self
    }
    fn hsts(mut self, name: &'static str) -> Self {
        self.hsts = Some(name);
        self
    }
    fn fixture(mut self, fixture: Fixture) -> Self {
        self.fixture = fixture;
        self
    }
    fn env(mut self, name: &'static str, value: &'static str) -> Self {
        self.env.push((name, value));
        self
    }
    fn stderr(mut self, stderr: Stderr) -> Self {
        self.stderr = stderr;
        self
    }
    fn stdout_differs(mut self, reason: &'static str) -> Self {
        self.stdout_differs = Some(reason);
        self
    }
    fn requests_differ(mut self, reason: &'static str) -> Self {
        self.requests_differ = Some(reason);
        self
    }
    fn unordered_cookies(mut self) -> Self {
        self.unordered_cookies = true;
        self
    }
    fn verbose(mut self) -> Self {
        self.verbose = true;
        self
    }
    fn keep_user_agent(mut self) -> Self {
        self.keep_user_agent = true;
        self
    }
    /// The exit code curl gives, so a case cannot pass by both tools failing alike by
    /// accident (a server that did not start, say).
    fn code(mut self, code: i32) -> Self {
        self.expect_code = Some(code);
        self
    }
}

const DIGEST_BODY: &str = "curl sends the first request of a Digest exchange without its body";
const RETRIED_BODY: &str = "curl writes the body of a retried response too";
const NETRC: &str = "machine 127.0.0.1 login user password pass\n";
const COOKIES: &str = "# Netscape HTTP Cookie File\n\
127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tfrom-file\n\
127.0.0.1\tFALSE\t/\tFALSE\t1924992000\tkept\tyes\n\
127.0.0.1\tFALSE\t/elsewhere\tFALSE\t0\tscoped\tno\n";
const SET_TWO: &str = "{u}/set-cookie?c=sid%3Dabc%3B%20Path%3D%2F&c=pref%3Ddark%3B%20Expires%3DWed%2C%2001%20Jan%202031%2000%3A00%3A00%20GMT%3B%20HttpOnly";

fn cases() -> Vec<Case> {
    vec![
        // Requests, methods and headers.
        case("get", &["{u}/echo"]).code(0),
        case("get_without_scheme", &["127.0.0.1:{port}/r{run}/echo"]).code(0),
        case("url_flag", &["--url", "{u}/echo"]).code(0),
        case("two_urls", &["{u}/echo", "{u}/file.txt"]).code(0),
        case("include", &["-i", "{u}/status?code=201"]).code(0),
        case("head", &["-I", "{u}/file.txt"]).code(0),
        case("request_put", &["-X", "PUT", "{u}/echo"]).code(0),
        case("request_delete_with_data", &["-X", "DELETE", "-d", "x=1", "{u}/echo"]).code(0),
        case("headers_added", &["-H", "X-One: 1", "-H", "X-Two: two words", "{u}/echo"]).code(0),
        case("header_repeated", &["-H", "X-A: 1", "-H", "X-A: 2", "{u}/echo"]).code(0),
        case("header_removed", &["-H", "Accept:", "{u}/echo"]).code(0),
        case("header_empty", &["-H", "X-Empty;", "{u}/echo"]).code(0),
        case("header_replaced", &["-H", "Accept: text/plain", "{u}/echo"]).code(0),
        case("user_agent", &["-A", "agent/1.0", "{u}/echo"]).keep_user_agent().code(0),
        case("referer", &["-e", "http://ref.example/page", "{u}/echo"]).code(0),
        // Bodies.
        case("data", &["-d", "a=1", "-d", "b=2", "{u}/echo"]).code(0),
        case("data_file_strips_newlines", &["-d", "@data.txt", "{u}/echo"])
            .file("data.txt", "line1\nline2\r\nline3\n")
            .code(0),
        case("data_binary_file", &["--data-binary", "@data.txt", "{u}/echo"])
            .file("data.txt", "line1\nline2\r\n")
            .code(0),
        case("data_raw_at", &["--data-raw", "@not-a-file", "{u}/echo"]).code(0),
        case("data_stdin", &["-d", "@-", "{u}/echo"]).stdin(b"from\nstdin\n").code(0),
        case("data_ascii", &["--data-ascii", "k=v", "{u}/echo"]).code(0),
        case(
            "data_urlencode",
            &["--data-urlencode", "msg=hello world&more", "--data-urlencode", "=a/b", "--data-urlencode", "plain text", "{u}/echo"],
        )
        .code(0),
        case("data_urlencode_file", &["--data-urlencode", "name@data.txt", "{u}/echo"])
            .file("data.txt", "a b\nc")
            .code(0),
        case("data_pieces_in_order", &["--data-raw", "r=1", "-d", "d=2", "--data-urlencode", "u=3 4", "{u}/echo"]).code(0),
        case("data_missing_file_is_empty", &["-s", "-d", "@missing.txt", "{u}/echo"]).code(0),
        case("data_content_type_replaced", &["-d", "{\"a\":1}", "-H", "Content-Type: application/json", "{u}/echo"]).code(0),
        case("json", &["--json", "{\"a\":1}", "{u}/json"]).code(0),
        case("json_file", &["--json", "@body.json", "{u}/json"]).file("body.json", "{\"from\":\"file\"}\n").code(0),
        case("get_with_data", &["-G", "-d", "a=1", "-d", "b=2", "{u}/echo?x=0"]).code(0),
        case("form_fields", &["-F", "name=value", "-F", "other=two words", "{u}/echo"]).code(0),
        case("form_file", &["-F", "file=@up.txt", "-F", "note=hi", "{u}/echo"])
            .file("up.txt", "uploaded\ncontent\n")
            .code(0),
        case("form_file_type_and_name", &["-F", "file=@up.bin;type=text/x-custom;filename=renamed.txt", "{u}/echo"])
            .file("up.bin", "binary-ish")
            .code(0),
        case("form_value_from_file", &["-F", "text=<up.txt", "{u}/echo"]).file("up.txt", "inline value").code(0),
        case("form_string", &["--form-string", "literal=@not-a-file", "{u}/echo"]).code(0),
        case("form_missing_file", &["-s", "-F", "f=@missing.txt", "{u}/echo"]).code(26),
        // Authentication.
        case("basic", &["-u", "user:pass", "{u}/basic"]).code(0),
        case("basic_flag", &["--basic", "-u", "user:pass", "{u}/basic"]).code(0),
        case("basic_wrong_password", &["-u", "user:nope", "{u}/basic"]).code(0),
        case("basic_wrong_password_fails", &["-s", "-f", "-u", "user:nope", "{u}/basic"]).code(22),
        case("url_credentials", &["http://user:pass@127.0.0.1:{port}/r{run}/basic"]).code(0),
        case("digest", &["--digest", "-u", "user:pass", "{u}/digest"]).code(0),
        case("digest_wrong_password", &["--digest", "-u", "user:bad", "{u}/digest"]).code(0),
        case("oauth2_bearer", &["--oauth2-bearer", "t0ken", "{u}/bearer"]).code(0),
        case("netrc", &["--netrc", "{u}/basic"]).file(".netrc", NETRC).code(0),
        case("netrc_optional", &["--netrc-optional", "{u}/basic"]).file(".netrc", NETRC).code(0),
        case("netrc_file", &["--netrc-file", "my.netrc", "{u}/basic"]).file("my.netrc", NETRC).code(0),
        // Cookies.
        case("cookie_string", &["-b", "a=1; b=2", "{u}/cookies"]).code(0),
        case("cookie_jar_written", &["-c", "jar.txt", SET_TWO]).jar("jar.txt").code(0),
        case("cookie_file_read", &["-b", "cookies.txt", "{u}/cookies"]).file("cookies.txt", COOKIES).code(0),
        case("cookie_file_and_jar", &["-b", "cookies.txt", "-c", "jar.txt", "{u}/set-cookie?c=new%3D1"])
            .file("cookies.txt", COOKIES)
            .jar("jar.txt")
            .code(0),
        case("cookie_missing_file", &["-b", "missing.txt", "{u}/cookies"]).code(0),
        case("cookie_through_redirect", &["-L", "-c", "jar.txt", "{u}/set-cookie?c=hop%3D1&to=/cookies"])
            .jar("jar.txt")
            .code(0),
        case(
            "cookie_domain",
            &["--resolve", "example.test:{port}:127.0.0.1", "-c", "jar.txt", "http://example.test:{port}/r{run}/set-cookie?c=d%3D1%3B%20Domain%3Dexample.test"],
        )
        .jar("jar.txt")
        .code(0),
        // Redirects.
        case("redirect_not_followed", &["{u}/redirect?to=/echo"]).code(0),
        case("redirect_followed", &["-L", "-w", "%{num_redirects} %{url_effective}\\n", "{u}/hops?n=3"]).code(0),
        case("redirect_303_post", &["-L", "-d", "a=1", "{u}/redirect?code=303&to=/echo"]).code(0),
        case("redirect_302_post", &["-L", "-d", "a=1", "{u}/redirect?code=302&to=/echo"]).code(0),
        case("redirect_301_post", &["-L", "-d", "a=1", "{u}/redirect?code=301&to=/echo"]).code(0),
        case("redirect_307_post", &["-L", "-d", "a=1", "{u}/redirect?code=307&to=/echo"]).code(0),
        case("redirect_308_put", &["-L", "-X", "PUT", "-d", "a=1", "{u}/redirect?code=308&to=/echo"]).code(0),
        case("redirect_heads_included", &["-i", "-L", "{u}/hops?n=2"]).code(0),
        case("redirect_heads_dumped", &["-L", "-D", "heads.txt", "-o", "/dev/null", "{u}/set-cookie?c=a%3D1&to=/echo"])
            .outputs(&["heads.txt"])
            .code(0),
        case("redirect_heads_head_request", &["-I", "-L", "{u}/redirect?code=301&to=/file.txt"]).code(0),
        case("post301", &["-L", "--post301", "-d", "a=1", "{u}/redirect?code=301&to=/echo"]).code(0),
        case("post302", &["-L", "--post302", "-d", "a=1", "{u}/redirect?code=302&to=/echo"]).code(0),
        case("post303", &["-L", "--post303", "-d", "a=1", "{u}/redirect?code=303&to=/echo"]).code(0),
        case("post302_not_for_303", &["-L", "--post302", "-d", "a=1", "{u}/redirect?code=303&to=/echo"]).code(0),
        case("max_redirs_exceeded", &["-s", "-L", "--max-redirs", "2", "{u}/hops?n=5"]).code(47),
        case("max_redirs_enough", &["-L", "--max-redirs", "3", "{u}/hops?n=3"]).code(0),
        case("redirect_drops_credentials_across_hosts", &["-L", "-u", "user:pass", "{u}/redirect?to=http://localhost:{port}/r{run}/echo"]).code(0),
        // Output.
        case(
            "write_out",
            &["-s", "-o", "/dev/null", "-w", "%{http_code} %{response_code} %{size_download} %{content_type} %{http_version} %{remote_ip} %{remote_port} %{num_redirects} %{exitcode} %{method} %{url_effective}\\n", "{u}/bytes?n=100"],
        )
        .code(0),
        case("write_out_failure", &["-s", "-w", "%{http_code} %{exitcode} %{http_version}\\n", "http://127.0.0.1:{closed}/"]).code(7),
        case("write_out_from_file", &["-s", "-o", "/dev/null", "-w", "@fmt.txt", "{u}/echo"])
            .file("fmt.txt", "code=%{http_code} type=%{content_type}\\n")
            .code(0),
        case("write_out_header", &["-s", "-o", "/dev/null", "-w", "%header{x-custom}|%{scheme}\\n", "{u}/headers?h=x-custom:%20yes"]).code(0),
        case("output_file", &["-o", "out.bin", "{u}/bytes?n=1000"]).outputs(&["out.bin"]).code(0),
        case("output_dash_is_stdout", &["-o", "-", "{u}/file.txt"]).code(0),
        case("two_outputs", &["-o", "a.txt", "-o", "b.txt", "{u}/echo", "{u}/file.txt"]).outputs(&["a.txt", "b.txt"]).code(0),
        case("remote_name", &["-O", "{u}/file.txt"]).outputs(&["file.txt"]).code(0),
        case("remote_name_twice", &["-O", "-O", "{u}/file.txt", "{u}/bytes?n=10"]).outputs(&["file.txt", "bytes"]).code(0),
        case("remote_name_all", &["--remote-name-all", "{u}/file.txt"]).outputs(&["file.txt"]).code(0),
        case("remote_header_name", &["-O", "-J", "{u}/disposition"]).outputs(&["report.txt", "disposition"]).code(0),
        case("remote_name_empty", &["-s", "-O", "{u}/"]).code(23),
        case("dump_header", &["-D", "headers.txt", "-o", "body.txt", "{u}/headers?h=x-custom:%20yes"])
            .outputs(&["headers.txt", "body.txt"])
            .code(0),
        case("dump_header_stdout", &["-D", "-", "-o", "/dev/null", "{u}/status?code=204"]).code(0),
        case("write_error", &["-s", "-o", "missing-dir/out.txt", "{u}/echo"]).code(23),
        case("fail", &["-s", "-f", "{u}/status?code=404"]).code(22),
        case("fail_with_body", &["-s", "--fail-with-body", "{u}/status?code=500"]).code(22),
        case("no_fail_on_404", &["{u}/status?code=404"]).code(0),
        case("silent_error", &["-s", "http://127.0.0.1:{closed}/"]).stderr(Stderr::Empty).code(7),
        case("show_error", &["-sS", "http://127.0.0.1:{closed}/"]).stderr(Stderr::NotEmpty).code(7),
        case("silent_success", &["-s", "{u}/echo"]).stderr(Stderr::Empty).code(0),
        case("verbose_stdout", &["-s", "-v", "{u}/echo"]).verbose().code(0),
        case("verbose_post", &["-s", "-v", "-d", "a=1", "-H", "X-Trace: 1", "{u}/echo"]).verbose().code(0),
        case("verbose_redirects", &["-s", "-v", "-L", "{u}/hops?n=2"]).verbose().code(0),
        // Content encodings.
        case("compressed", &["--compressed", "{u}/gzip"]).code(0),
        case("not_compressed", &["{u}/gzip"]).code(0),
        case("compressed_raw", &["--compressed", "--raw", "{u}/gzip"]).code(0),
        case("bad_content_encoding", &["-s", "--compressed", "{u}/bad-gzip"]).code(61),
        // Timeouts and retries.
        case("connect_timeout", &["-s", "--connect-timeout", "1", "{blackhole}"]).code(28),
        case("max_time", &["-s", "-m", "1", "{u}/slow?ms=4000"]).code(28),
        case("max_time_covers_the_body", &["-s", "-m", "1", "-o", "/dev/null", "{router}/chunks?n=10&size=10&delay_ms=400"]).code(28),
        case("retry", &["-s", "--retry", "1", "--retry-delay", "1", "{u}/flaky"])
            .stdout_differs(RETRIED_BODY)
            .code(0),
        case("no_retry", &["-s", "{u}/flaky"]).code(0),
        case("retry_all_errors", &["-s", "--retry", "1", "--retry-delay", "1", "--retry-all-errors", "-f", "{u}/status?code=404"]).code(22),
        case("retry_max_time", &["-s", "--retry", "1", "--retry-delay", "1", "--retry-max-time", "10", "{u}/flaky"])
            .stdout_differs(RETRIED_BODY)
            .code(0),
        case("retry_connrefused", &["-s", "--retry", "1", "--retry-delay", "1", "--retry-connrefused", "http://127.0.0.1:{closed}/"]).code(7),
        // Proxies.
        case("proxy", &["-x", "{proxy}", "{u}/echo"]).fixture(Fixture::HttpProxy).code(0),
        case("proxy_without_scheme", &["-x", "{proxy_addr}", "{u}/echo"]).fixture(Fixture::HttpProxy).code(0),
        case("proxy_user", &["-x", "{proxy}", "-U", "user:pass", "{u}/echo"]).fixture(Fixture::HttpProxyAuth).code(0),
        case("proxy_auth_required", &["-x", "{proxy}", "{u}/echo"]).fixture(Fixture::HttpProxyAuth).code(0),
        case("proxy_connect_refused", &["-s", "-x", "{proxy}", "--cacert", "ca.pem", "{s}/echo"]).fixture(Fixture::HttpProxyAuth).code(56),
        case("proxy_tunnel", &["-x", "{proxy}", "--cacert", "ca.pem", "{s}/echo"]).fixture(Fixture::HttpProxy).code(0),
        case("noproxy", &["-x", "{proxy}", "--noproxy", "127.0.0.1", "{u}/echo"]).fixture(Fixture::HttpProxy).code(0),
        case("noproxy_star", &["-x", "{proxy}", "--noproxy", "*", "{u}/echo"]).fixture(Fixture::HttpProxy).code(0),
        case("env_proxy", &["{u}/echo"]).fixture(Fixture::HttpProxy).env("http_proxy", "{proxy}").code(0),
        case("env_no_proxy", &["{u}/echo"]).fixture(Fixture::HttpProxy).env("http_proxy", "{proxy}").env("no_proxy", "127.0.0.1").code(0),
        case("socks5_hostname", &["--socks5-hostname", "{proxy_addr}", "{u}/echo"]).fixture(Fixture::Socks).code(0),
        case("socks5", &["--socks5", "{proxy_addr}", "{u}/echo"]).fixture(Fixture::Socks).code(0),
        case("socks5h_proxy_url", &["-x", "socks5h://{proxy_addr}", "{u}/echo"]).fixture(Fixture::Socks).code(0),
        case("socks_refused", &["-s", "--socks5-hostname", "{proxy_addr}", "{u}/echo"]).fixture(Fixture::SocksRefusing).code(97),
        case("proxy_unresolvable", &["-s", "-x", "http://nonexistent.invalid:3128", "{u}/echo"]).code(5),
        // TLS and HTTP versions.
        case("insecure", &["-k", "{s}/echo"]).code(0),
        case("cacert", &["--cacert", "ca.pem", "{s}/echo"]).code(0),
        case("untrusted_certificate", &["-s", "{s}/echo"]).code(60),
        case("wrong_name", &["-s", "--cacert", "ca.pem", "--resolve", "wrong.test:{tls_port}:127.0.0.1", "https://wrong.test:{tls_port}/r{run}/echo"]).code(60),
        case("cacert_missing", &["-s", "--cacert", "missing.pem", "{s}/echo"]).code(77),
        case("cert_missing", &["-s", "--cacert", "ca.pem", "--cert", "missing.pem", "{s}/echo"]).code(58),
        case("client_certificate", &["--cacert", "ca.pem", "--cert", "client.pem", "{mtls}/echo"]).code(0),
        case("client_certificate_with_key", &["--cacert", "ca.pem", "--cert", "client-cert.pem", "--key", "client-key.pem", "{mtls}/echo"]).code(0),
        case("tls13_against_tls12_server", &["-s", "--tlsv1.3", "--cacert", "ca.pem", "{tls12}/"]).code(35),
        case("tls12_minimum", &["--tlsv1.2", "--cacert", "ca.pem", "{s}/echo"]).code(0),
        case("tls_max_12", &["--tls-max", "1.2", "--cacert", "ca.pem", "{s}/echo"]).code(0),
        case("http1_over_tls", &["--http1.1", "--cacert", "ca.pem", "-w", "%{http_version}\\n", "{s}/echo"]).code(0),
        case("http2_over_tls", &["--http2", "--cacert", "ca.pem", "-w", "%{http_version}\\n", "{s}/echo"]).code(0),
        case("http2_prior_knowledge", &["--http2-prior-knowledge", "-w", "%{http_version}\\n", "{h2c}/echo"]).code(0),
        case("limit_rate", &["--limit-rate", "100k", "-o", "out.bin", "{u}/bytes?n=2000"]).outputs(&["out.bin"]).code(0),
        case("resolve", &["--resolve", "example.test:{port}:127.0.0.1", "http://example.test:{port}/r{run}/echo"]).code(0),
        case("hsts_learned", &["--hsts", "hsts.txt", "--cacert", "ca.pem", "{s}/hsts"]).hsts("hsts.txt").code(0),
        case("hsts_upgrade", &["--hsts", "hsts.txt", "--cacert", "ca.pem", "-w", "%{url_effective}\\n", "http://localhost:{tls_port}/r{run}/echo"])
            .file("hsts.txt", "localhost \"20991231 23:59:59\"\n")
            .hsts("hsts.txt")
            .code(0),
        // Failures and their exit codes.
        // More combinations.
        case("include_http2", &["-i", "--http2-prior-knowledge", "{h2c}/status?code=202"]).code(0),
        case("head_over_tls", &["-I", "--http1.1", "--cacert", "ca.pem", "{s}/file.txt"]).code(0),
        case("dump_header_stdout_with_redirects", &["-s", "-L", "-D", "-", "-o", "/dev/null", "{u}/hops?n=1"]).code(0),
        case("json_pieces_concatenate", &["--json", "{\"a\":", "--json", "1}", "{u}/json"]).code(0),
        case("get_with_urlencoded_data", &["-G", "--data-urlencode", "q=a b&c", "{u}/echo"]).code(0),
        case("data_binary_stdin", &["--data-binary", "@-", "{u}/echo"]).stdin(b"raw\r\nbytes\n").code(0),
        case("data_urlencode_stdin", &["--data-urlencode", "v@-", "{u}/echo"]).stdin(b"x y\n").code(0),
        case("size_header", &["-s", "-o", "/dev/null", "-w", "%{size_header} %{size_download}\\n", "{u}/headers?h=x-a:%201&h=x-b:%20two"]).code(0),
        case("unlimited_redirects", &["-L", "--max-redirs", "-1", "{u}/hops?n=4"]).code(0),
        case("cookie_string_and_file", &["-b", "cookies.txt", "-b", "extra=1", "{u}/cookies"])
            .file("cookies.txt", COOKIES)
            .unordered_cookies()
            .code(0),
        case("remote_name_all_two", &["--remote-name-all", "{u}/file.txt", "{u}/bytes?n=5"]).outputs(&["file.txt", "bytes"]).code(0),
        case("method_not_allowed_write_out", &["-s", "-o", "/dev/null", "-w", "%{http_code} %{method}", "-X", "POST", "{u}/status?code=405"]).code(0),
        case("fail_include", &["-s", "-f", "-i", "{u}/status?code=403"]).code(22),
        case("referer_with_redirect", &["-L", "-e", "http://ref.example/", "{u}/redirect?to=/echo"]).code(0),
        case("digest_post", &["--digest", "-u", "user:pass", "-d", "a=1", "{u}/digest"])
            .requests_differ(DIGEST_BODY)
            .code(0),
        case("unsupported_protocol", &["-s", "foo://example/"]).code(1),
        case("malformed_url", &["-s", "http://[::1"]).code(3),
        case("no_url", &["-s"]).code(2),
        case("unknown_option", &["-s", "--bogus-flag", "{u}/echo"]).code(2),
        case("bad_number", &["-s", "--max-time", "soon", "{u}/echo"]).code(2),
        case("unresolvable_host", &["-s", "http://nonexistent.invalid/"]).code(6),
        case("connection_refused", &["-s", "http://127.0.0.1:{closed}/"]).code(7),
        case("empty_reply", &["-s", "{empty}"]).code(52),
        case("partial_body", &["-s", "{partial}"]).code(18),
        case("reset_body", &["-s", "{reset}"]).code(56),
        case("not_http", &["-s", "{garbage}"]).code(1),
    ]
}

/// Servers that only fail, shared by every case.
struct Faults {
    empty: RawServer,
    partial: RawServer,
    reset: RawServer,
    garbage: RawServer,
    blackhole: Blackhole,
    closed_port: u16,
    tls12: TestServer,
    mtls: TestServer,
    /// test-support's own routes (`/chunks` sends a body slowly).
    router: TestServer,
}

fn faults(servers: &Servers) -> Faults {
    let reset = RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_some()
            && conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome")
                .await
                .is_ok()
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            conn.reset();
        }
    });
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    Faults {
        empty: RawServer::respond_and_close(b""),
        partial: RawServer::respond_and_close(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        ),
        reset,
        garbage: RawServer::respond_and_close(b"garbage\r\n\r\n"),
        blackhole: Blackhole::bind(),
        closed_port,
        tls12: TestServer::builder()
            .tls_config(servers.pki.tls12_only_server_config(&[b"http/1.1"]))
            .build(),
        router: TestServer::http1(),
        mtls: {
            TestServer::builder()
                .tls_config(servers.pki.server_config(&[b"http/1.1"], true))
                .handler(|request: http::Request<bytes::Bytes>| async move {
                    towline_test_support::response(
                        200,
                        format!(
                            "client certificate accepted for {}\n",
                            strip_run(request.uri().path())
                        ),
                    )
                })
                .build()
        },
    }
}

fn strip_run(path: &str) -> String {
    let Some(rest) = path.strip_prefix("/r") else {
        return path.to_owned();
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    rest[digits..].to_owned()
}

/// A run's fixture and the log it kept.
enum Running {
    None,
    Http(HttpProxy),
    Socks(SocksServer),
}

impl Running {
    fn start(fixture: Fixture) -> Self {
        match fixture {
            Fixture::None => Self::None,
            Fixture::HttpProxy => Self::Http(HttpProxy::spawn()),
            Fixture::HttpProxyAuth => {
                Self::Http(HttpProxy::builder().basic_auth("user", "pass").build())
            }
            Fixture::Socks => Self::Socks(SocksServer::spawn()),
            Fixture::SocksRefusing => Self::Socks(SocksServer::builder().reply_code(5).spawn()),
        }
    }

    fn addr(&self) -> String {
        match self {
            Self::None => String::new(),
            Self::Http(proxy) => proxy.addr().to_string(),
            Self::Socks(socks) => socks.addr().to_string(),
        }
    }

    fn log(&self, run: u64) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::Http(proxy) => proxy
                .requests()
                .iter()
                .map(|request| {
                    normalize_text(
                        &format!(
                            "{} {} host={:?} proxy-authorization={:?}",
                            request.method,
                            request.target,
                            request.host,
                            request.proxy_authorization
                        ),
                        run,
                    )
                })
                .collect(),
            Self::Socks(socks) => socks
                .requests()
                .iter()
                .map(|request| format!("{:?} {:?}", request.target, request.username))
                .collect(),
        }
    }
}

/// Everything a run is compared on.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    code: Option<i32>,
    stdout: String,
    requests: Vec<String>,
    proxy: Vec<String>,
    files: Vec<(String, Option<String>)>,
    jar: Option<BTreeSet<String>>,
    hsts: Option<BTreeSet<String>>,
    heads: Vec<String>,
}

struct Context {
    servers: Servers,
    faults: Faults,
    scratch: PathBuf,
    ca_pem: String,
    client_pem: String,
}

async fn observe(context: &Context, case: &Case, binary: &Path, tool: &str) -> (Observed, Outcome) {
    let run = support::next_run();
    let dir = context.scratch.join(format!("{}-{tool}", case.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &context.ca_pem).unwrap();
    std::fs::write(dir.join("client.pem"), &context.client_pem).unwrap();
    let (cert, key) = context
        .client_pem
        .split_at(context.client_pem.find("-----BEGIN PRIVATE KEY").unwrap());
    std::fs::write(dir.join("client-cert.pem"), cert).unwrap();
    std::fs::write(dir.join("client-key.pem"), key).unwrap();
    for (name, content) in &case.files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let fixture = Running::start(case.fixture);
    let servers = &context.servers;
    let faults = &context.faults;
    let substitute = |text: &str| {
        text.replace(
            "{u}",
            &format!("{}/r{run}", servers.http.url("").trim_end_matches('/')),
        )
        .replace(
            "{s}",
            &format!("{}/r{run}", servers.tls.url("").trim_end_matches('/')),
        )
        .replace(
            "{h2c}",
            &format!("{}/r{run}", servers.h2c.url("").trim_end_matches('/')),
        )
        .replace(
            "{mtls}",
            &format!("{}/r{run}", faults.mtls.url("").trim_end_matches('/')),
        )
        .replace("{tls12}", faults.tls12.url("").trim_end_matches('/'))
        .replace("{run}", &run.to_string())
        .replace("{port}", &servers.http.addr().port().to_string())
        .replace("{tls_port}", &servers.tls.addr().port().to_string())
        .replace("{closed}", &faults.closed_port.to_string())
        .replace("{blackhole}", &faults.blackhole.url("/"))
        .replace("{empty}", &faults.empty.url("/"))
        .replace("{partial}", &faults.partial.url("/"))
        .replace("{reset}", &faults.reset.url("/"))
        .replace("{garbage}", &faults.garbage.url("/"))
        .replace("{router}", faults.router.url("").trim_end_matches('/'))
        .replace("{proxy_addr}", &fixture.addr())
        .replace("{proxy}", &format!("http://{}", fixture.addr()))
    };
    let args: Vec<String> = case.args.iter().map(|arg| substitute(arg)).collect();
    let env: Vec<(String, String)> = case
        .env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), substitute(value)))
        .collect();
    let outcome = support::run(binary, &args, &dir, case.stdin, &env).await;

    let seen = servers.log.take(run);
    let boundaries: Vec<String> = seen
        .iter()
        .filter_map(|seen| {
            seen.headers
                .iter()
                .find_map(|(name, value)| {
                    (name == "content-type")
                        .then(|| value.strip_prefix("multipart/form-data; boundary="))
                        .flatten()
                })
                .map(str::to_owned)
        })
        .collect();
    let requests = if case.requests_differ.is_some() {
        Vec::new()
    } else {
        seen.into_iter()
            .map(|seen| normalize_text(&normalize_seen(seen, case.keep_user_agent), run))
            .map(|text| sort_cookies(&text, case.unordered_cookies))
            .collect()
    };
    let files = case
        .outputs
        .iter()
        .map(|name| {
            let content = std::fs::read(dir.join(name))
                .ok()
                .map(|bytes| normalize_text(&String::from_utf8_lossy(&bytes), run));
            ((*name).to_owned(), content)
        })
        .collect();
    let jar = case.jar.map(|name| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                !line.is_empty() && (!line.starts_with('#') || line.starts_with("#HttpOnly_"))
            })
            .map(|line| normalize_cookie_line(&normalize_text(line, run)))
            .collect()
    });
    let hsts = case.hsts.map(|name| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
            .collect()
    });
    let observed = Observed {
        code: outcome.code,
        stdout: if case.stdout_differs.is_none() {
            let mut stdout = normalize_text(&String::from_utf8_lossy(&outcome.stdout), run);
            for boundary in &boundaries {
                stdout = stdout.replace(boundary.as_str(), "BOUNDARY");
            }
            sort_cookies(&stdout, case.unordered_cookies)
        } else {
            String::new()
        },
        requests,
        proxy: fixture.log(run),
        files,
        jar,
        hsts,
        heads: if case.verbose {
            verbose_heads(&String::from_utf8_lossy(&outcome.stderr), run)
        } else {
            Vec::new()
        },
    };
    (observed, outcome)
}

/// The `>` and `<` lines of `-v`, header names in lower case, without `User-Agent`, `Date`,
/// and a request's `Content-Length` and `Transfer-Encoding` (see above).
fn verbose_heads(stderr: &str, run: u64) -> Vec<String> {
    let mut heads = Vec::new();
    let mut first = true;
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("> ").or_else(|| line.strip_prefix("< ")) else {
            continue;
        };
        let prefix = &line[..2];
        if rest.is_empty() {
            heads.push(prefix.to_owned());
            first = true;
            continue;
        }
        if first {
            heads.push(normalize_text(line, run));
            first = false;
            continue;
        }
        let (name, value) = rest.split_once(':').unwrap_or((rest, ""));
        let name = name.to_ascii_lowercase();
        let framing = prefix == "> " && (name == "content-length" || name == "transfer-encoding");
        if name == "user-agent" || name == "date" || framing {
            continue;
        }
        heads.push(normalize_text(&format!("{prefix}{name}:{value}"), run));
    }
    heads
}

/// Takes out what differs per run: the path prefix and `date` headers.
fn normalize_text(text: &str, run: u64) -> String {
    let text = text.replace(&format!("/r{run}"), "/r*");
    text.split_inclusive('\n')
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("date: ") {
                "date: *\r\n".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// With `unordered`, the pairs of each `cookie: ` line in sorted order.
fn sort_cookies(text: &str, unordered: bool) -> String {
    if !unordered {
        return text.to_owned();
    }
    text.split_inclusive('\n')
        .map(|line| match line.strip_prefix("cookie: ") {
            Some(pairs) => {
                let mut pairs: Vec<&str> = pairs.trim_end().split("; ").collect();
                pairs.sort_unstable();
                format!("cookie: {}\n", pairs.join("; "))
            }
            None => line.to_owned(),
        })
        .collect()
}

/// A jar line with its path's trailing `/` taken off (see the differences above).
fn normalize_cookie_line(line: &str) -> String {
    let mut fields: Vec<&str> = line.split('\t').collect();
    if let Some(path) = fields.get_mut(2)
        && path.len() > 1
    {
        *path = path.trim_end_matches('/');
    }
    fields.join("\t")
}

fn normalize_seen(seen: Seen, keep_user_agent: bool) -> String {
    let multipart_boundary = seen
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .and_then(|(_, value)| value.strip_prefix("multipart/form-data; boundary="))
        .map(str::to_owned);
    let mut headers: Vec<String> = seen
        .headers
        .iter()
        .filter(|(name, _)| keep_user_agent || name != "user-agent")
        .filter(|(name, _)| !(multipart_boundary.is_some() && name == "content-length"))
        .map(|(name, value)| {
            let value = match name.as_str() {
                "accept-encoding" => "*".to_owned(),
                "content-type" if multipart_boundary.is_some() => {
                    "multipart/form-data; boundary=*".to_owned()
                }
                "authorization" if value.starts_with("Digest ") => normalize_digest(value),
                _ => value.clone(),
            };
            format!("{name}: {value}")
        })
        .collect();
    headers.sort();
    let body = match &multipart_boundary {
        Some(boundary) => normalize_multipart(&seen.body, boundary),
        None => String::from_utf8_lossy(&seen.body).into_owned(),
    };
    format!(
        "{} {} {}\n{}\n\n{}",
        seen.method,
        seen.target,
        seen.version,
        headers.join("\n"),
        body
    )
}

fn normalize_digest(value: &str) -> String {
    let mut params: Vec<String> = value["Digest ".len()..]
        .split(',')
        .map(|param| {
            let (name, value) = param.trim().split_once('=').unwrap_or((param.trim(), ""));
            let value = value.trim_matches('"');
            match name {
                "cnonce" | "nonce" | "response" => format!("{name}=*"),
                _ => format!("{name}={value}"),
            }
        })
        .collect();
    params.sort();
    format!("Digest {}", params.join(", "))
}

/// The parts of a multipart body: their headers (sorted, lower-case names) and content.
fn normalize_multipart(body: &[u8], boundary: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    text.split(&delimiter)
        .filter(|part| !part.is_empty() && !part.starts_with("--"))
        .map(|part| {
            let part = part.strip_prefix("\r\n").unwrap_or(part);
            let part = part.strip_suffix("\r\n").unwrap_or(part);
            let (head, content) = part.split_once("\r\n\r\n").unwrap_or((part, ""));
            let mut headers: Vec<String> = head
                .split("\r\n")
                .filter(|line| !line.is_empty())
                .map(|line| {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    format!("{}: {}", name.to_ascii_lowercase(), value.trim())
                })
                .collect();
            headers.sort();
            format!("[{}]\n{content}\n", headers.join(" | "))
        })
        .collect()
}

#[test]
fn towline_curl_matches_curl() {
    let curl = support::curl_binary();
    let towline = PathBuf::from(env!("CARGO_BIN_EXE_towline-curl"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let failures = runtime.block_on(async move {
        let servers = support::servers();
        let faults = faults(&servers);
        let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golden");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).unwrap();
        let context = Arc::new(Context {
            ca_pem: servers.pki.ca_pem(),
            client_pem: servers.pki.client_identity_pem(),
            servers,
            faults,
            scratch,
        });
        // Runs are mostly waiting (on servers, timeouts and retry delays): run many at once.
        let permits = Arc::new(Semaphore::new(12));
        let mut tasks = Vec::new();
        for case in cases {
            let context = Arc::clone(&context);
            let permits = Arc::clone(&permits);
            let curl = curl.clone();
            let towline = towline.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire().await.unwrap();
                let (expected, curl_outcome) = observe(&context, &case, &curl, "curl").await;
                let (actual, towline_outcome) = observe(&context, &case, &towline, "towline").await;
                compare(&case, &expected, &curl_outcome, &actual, &towline_outcome)
            }));
        }
        let mut failures = Vec::new();
        for task in tasks {
            if let Err(message) = task.await.unwrap() {
                failures.push(message);
            }
        }
        failures
    });
    assert!(
        failures.is_empty(),
        "{} of the golden cases differ from curl:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn compare(
    case: &Case,
    expected: &Observed,
    curl: &Outcome,
    actual: &Observed,
    towline: &Outcome,
) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(code) = case.expect_code
        && expected.code != Some(code)
    {
        problems.push(format!(
            "curl itself exited {:?}, the case expects {code}",
            expected.code
        ));
    }
    if expected != actual {
        let fields = [
            (
                "exit code",
                format!("{:?}", expected.code),
                format!("{:?}", actual.code),
            ),
            ("stdout", expected.stdout.clone(), actual.stdout.clone()),
            (
                "requests",
                expected.requests.join("\n----\n"),
                actual.requests.join("\n----\n"),
            ),
            (
                "proxy log",
                expected.proxy.join("\n"),
                actual.proxy.join("\n"),
            ),
            (
                "files",
                format!("{:#?}", expected.files),
                format!("{:#?}", actual.files),
            ),
            (
                "cookie jar",
                format!("{:#?}", expected.jar),
                format!("{:#?}", actual.jar),
            ),
            (
                "hsts",
                format!("{:#?}", expected.hsts),
                format!("{:#?}", actual.hsts),
            ),
            (
                "-v heads",
                expected.heads.join("\n"),
                actual.heads.join("\n"),
            ),
        ];
        for (what, curl_value, towline_value) in fields {
            if curl_value != towline_value {
                problems.push(format!(
                    "{what}:\n  curl:    {curl_value:?}\n  towline: {towline_value:?}"
                ));
            }
        }
    }
    for (tool, outcome) in [("curl", curl), ("towline-curl", towline)] {
        let quiet = outcome.stderr.is_empty();
        match case.stderr {
            Stderr::Empty if !quiet => problems.push(format!(
                "{tool} wrote to stderr: {}",
                String::from_utf8_lossy(&outcome.stderr)
            )),
            Stderr::NotEmpty if quiet => problems.push(format!("{tool} wrote nothing to stderr")),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "case {} ({:?}):\n{}\n  towline-curl stderr: {}\n  curl stderr: {}",
            case.name,
            case.args,
            problems.join("\n"),
            String::from_utf8_lossy(&towline.stderr).trim(),
            String::from_utf8_lossy(&curl.stderr).trim()
        ))
    }
}
