//! towline-curl: curl's command line over the towline client.
//!
//! [`main`] parses the command line, builds one [`towline::Client`] from the flags, fetches
//! each URL in turn and exits with curl's code for the last failure (see the [crate
//! documentation](crate) for the flags, the exit codes and where the output differs from
//! curl's).

#[cfg(feature = "http3")]
mod alt_svc;
mod args;
mod body;
mod date;
mod exit;
mod hsts;
mod output;
mod setup;
mod verbose;
mod write_out;

use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use towline::towline_layers::extensions::{RedirectObserver, RedirectResponse};
use towline::towline_layers::redirect::RedirectHistory;
use towline::{Client, Method, Response, Url};

use self::args::{Args, CommandLine};
use self::body::Files;
use self::exit::{Context, Failure, Stage};
use self::output::{Reporter, Sink};
use self::write_out::Transfer;

/// Runs towline-curl with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    let line = match CommandLine::parse(std::env::args_os()) {
        Ok(line) => line,
        Err(error) => {
            let code = if error.use_stderr() {
                exit::FAILED_INIT
            } else {
                0
            };
            // Nothing more can be said when stderr itself is gone.
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("towline-curl: (2) cannot start the runtime: {error}");
            return ExitCode::from(exit::FAILED_INIT);
        }
    };
    ExitCode::from(runtime.block_on(run(line)))
}

/// What the request of every URL shares.
struct Plan {
    args: Args,
    data: Option<Vec<u8>>,
    /// The data came from `--json`.
    json: bool,
    form_fields: Vec<(bool, String)>,
    cookie_header: Option<String>,
    reporter: Reporter,
}

async fn run(line: CommandLine) -> u8 {
    let CommandLine { args, data, form } = line;
    let reporter = Reporter::new(&args);
    let urls: Vec<String> = args.urls.iter().chain(&args.url_flags).cloned().collect();
    if urls.is_empty() {
        reporter.error(&Failure::new(exit::FAILED_INIT, "no URL specified!"));
        return exit::FAILED_INIT;
    }
    if args.verbose && !verbose::HeadPrinter::install() {
        reporter.warn("-v: another tracing subscriber is installed; heads are not shown");
    }

    let mut files = Files::default();
    let json = data.iter().any(|(kind, _)| *kind == args::DataKind::Json);
    let data = (!data.is_empty())
        .then(|| body::data(&data, &mut files, &mut |warning| reporter.warn(&warning)));
    let state = match setup::State::load(&args) {
        Ok(state) => state,
        Err(failure) => {
            reporter.error(&failure);
            return failure.code;
        }
    };
    let client = match setup::client(&args, &state) {
        Ok(client) => client,
        Err(failure) => {
            reporter.error(&failure);
            return failure.code;
        }
    };
    let plan = Plan {
        cookie_header: state.cookie_header.clone(),
        args,
        data,
        json,
        form_fields: form,
        reporter,
    };

    let mut code = 0;
    for (index, url) in urls.iter().enumerate() {
        let result = transfer(&client, &plan, &mut files, url, index).await;
        if result != 0 {
            code = result;
        }
    }
    if let Err(failure) = state.save(&plan.args) {
        plan.reporter.warn(&failure.message);
    }
    code
}

/// One URL's transfer: where its body goes and what `-w` shows of it.
struct Job<'a> {
    given: &'a str,
    index: usize,
    record: Transfer,
    sink: Sink,
    start: Instant,
}

/// Fetches one URL; returns its exit code.
async fn transfer(
    client: &Client,
    plan: &Plan,
    files: &mut Files,
    given: &str,
    index: usize,
) -> u8 {
    let args = &plan.args;
    let mut job = Job {
        given,
        index,
        record: Transfer {
            url: given.to_owned(),
            url_effective: given.to_owned(),
            ..Transfer::default()
        },
        sink: Sink::stdout(),
        start: Instant::now(),
    };
    let outcome = fetch(client, plan, files, &mut job).await;
    let Job {
        mut record,
        mut sink,
        start,
        ..
    } = job;
    record.time_total = start.elapsed();
    let code = match outcome {
        Ok(()) => 0,
        Err(failure) => {
            record.exitcode = failure.code;
            record.errormsg.clone_from(&failure.message);
            plan.reporter.error(&failure);
            failure.code
        }
    };
    if let Err(failure) = sink.finish() {
        plan.reporter.error(&failure);
        return failure.code;
    }
    if let Some(format) = &args.write_out {
        let format = match format.strip_prefix('@') {
            Some(name) => match files.read(name) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(error) => {
                    plan.reporter
                        .warn(&format!("Failed to read {name}: {error}"));
                    String::new()
                }
            },
            None => format.clone(),
        };
        let (text, warnings) = write_out::render(&format, &record);
        for warning in warnings {
            plan.reporter.warn(&warning);
        }
        if let Err(failure) = output::write_stdout(&text) {
            return failure.code;
        }
    }
    code
}

async fn fetch(
    client: &Client,
    plan: &Plan,
    files: &mut Files,
    job: &mut Job<'_>,
) -> Result<(), Failure> {
    let args = &plan.args;
    let (given, index, start) = (job.given, job.index, job.start);
    let (record, sink) = (&mut job.record, &mut job.sink);
    let mut url = parse_url(given)?;
    let form = !plan.form_fields.is_empty();
    if args.get
        && let Some(data) = &plan.data
    {
        let data = String::from_utf8_lossy(data);
        let query = match url.query() {
            Some(query) if !query.is_empty() => format!("{query}&{data}"),
            _ => data.into_owned(),
        };
        url.set_query(Some(&query));
    }
    record.url_effective = url.to_string();
    output::check_remote_name(args, index, given)?;
    let method = method(args, plan.data.is_some(), form)?;
    record.method = method.to_string();

    let mut request = client.request(method.clone(), url.clone());
    for (name, value) in setup::headers(args, plan)? {
        request = request.header(name, value);
    }
    if let Some((user, password)) = args.user.as_deref().map(split_credentials) {
        request = if args.digest {
            request.digest_auth(user, password)
        } else {
            request.basic_auth(user, Some(password))
        };
    }
    if let Some(token) = &args.oauth2_bearer {
        request = request.bearer_auth(token);
    }
    if form {
        request = request.multipart(body::form(&plan.form_fields, files)?);
    } else if let Some(data) = &plan.data
        && !args.get
    {
        if data.is_empty() {
            // curl announces an empty body; the client sends no length for one.
            request = request.header(towline::header::CONTENT_LENGTH, 0);
        }
        request = request.body(data.clone());
    }

    let context = Context {
        stage: Stage::Request,
        proxied: setup::proxied(args, &url),
    };
    let mut request = request
        .build()
        .map_err(|error| exit::classify(&error, context))?;
    // curl shows the head of every redirect it follows, so the redirect layer reports them.
    let hops: Arc<Mutex<Vec<u8>>> = Arc::default();
    if args.location && (args.include || args.head || args.dump_header.is_some()) {
        let hops = Arc::clone(&hops);
        request.extensions_mut().insert(RedirectObserver::responses(
            move |hop: &RedirectResponse<'_>| {
                let head = output::head_of(hop.version, hop.status, None, hop.headers);
                lock(&hops).extend_from_slice(&head);
            },
        ));
    }
    let mut response = client
        .execute(request)
        .await
        .map_err(|error| exit::classify(&error, context))?;
    describe(&response, record, start);
    if args.verbose {
        plan.reporter.connection(&response);
    }

    let status = response.status().as_u16();
    let failing = (args.fail || args.fail_with_body) && status >= 400;
    let mut head = std::mem::take(&mut *lock(&hops));
    head.extend_from_slice(&output::head(&response));
    record.size_header = head.len() as u64;
    if let Some(path) = &args.dump_header {
        output::dump_header(path, &head)?;
    }
    let shows_head = args.include || args.head;
    if failing && !args.fail_with_body && !shows_head {
        return Err(fail_status(status));
    }
    let target = output::target(args, index, given, &response)?;
    sink.open(target)?;
    if shows_head {
        sink.write(&head)?;
    }
    // `--fail` keeps the body out, but curl has written the head by the time it knows.
    if failing && !args.fail_with_body {
        return Err(fail_status(status));
    }
    let body_context = Context {
        stage: Stage::Body,
        ..context
    };
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                record.size_download += chunk.len() as u64;
                sink.write(&chunk)?;
            }
            Ok(None) => break,
            Err(error) => return Err(exit::classify(&error, body_context)),
        }
    }
    if failing {
        return Err(fail_status(status));
    }
    Ok(())
}

/// Locks `mutex`; a panic elsewhere while it was held leaves data that is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn fail_status(status: u16) -> Failure {
    Failure::new(
        exit::HTTP_RETURNED_ERROR,
        format!("The requested URL returned error: {status}"),
    )
}

/// What `-w` shows of the response head.
fn describe(response: &Response, record: &mut Transfer, start: Instant) {
    record.status = Some(response.status().as_u16());
    record.version = Some(response.version());
    record.headers = response.headers().clone();
    record.url_effective = response.url().to_string();
    record.remote = response.remote_addr();
    record.num_redirects = response
        .extensions()
        .get::<RedirectHistory>()
        .map_or(0, RedirectHistory::len);
    let headers_at = start.elapsed();
    if let Some(timings) = response.timings() {
        let zero = std::time::Duration::ZERO;
        record.time_namelookup = timings.dns.unwrap_or(zero);
        record.time_connect = record.time_namelookup + timings.tcp.unwrap_or(zero);
        record.time_appconnect = timings.tls.map_or(zero, |tls| record.time_connect + tls);
        record.time_starttransfer = timings.headers;
    } else {
        record.time_starttransfer = headers_at;
    }
}

/// The URL as curl reads it: `http://` when no scheme is given; only http and https.
fn parse_url(given: &str) -> Result<Url, Failure> {
    let text = if given.contains("://") {
        given.to_owned()
    } else {
        format!("http://{given}")
    };
    let url = Url::parse(&text).map_err(|error| {
        Failure::new(
            exit::URL_MALFORMAT,
            format!("URL using bad/illegal format or missing URL: {error}"),
        )
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        scheme => Err(Failure::new(
            exit::UNSUPPORTED_PROTOCOL,
            format!("Protocol \"{scheme}\" not supported"),
        )),
    }
}

/// The method curl picks: `-X` wins, then `-I` (HEAD), `-G` (GET), a body (POST), GET.
fn method(args: &Args, data: bool, form: bool) -> Result<Method, Failure> {
    if let Some(name) = &args.request {
        return Method::from_bytes(name.as_bytes())
            .map_err(|_| Failure::new(exit::FAILED_INIT, format!("bad request method {name:?}")));
    }
    Ok(if args.head {
        Method::HEAD
    } else if args.get {
        Method::GET
    } else if data || form {
        Method::POST
    } else {
        Method::GET
    })
}

/// `user:password` (a missing password is empty).
fn split_credentials(user: &str) -> (&str, &str) {
    user.split_once(':').unwrap_or((user, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_http_by_default_and_other_schemes_are_refused() {
        assert_eq!(
            parse_url("127.0.0.1:8080/x").unwrap().as_str(),
            "http://127.0.0.1:8080/x"
        );
        assert_eq!(
            parse_url("ftp://h/").unwrap_err().code,
            exit::UNSUPPORTED_PROTOCOL
        );
        assert_eq!(
            parse_url("http://[::1").unwrap_err().code,
            exit::URL_MALFORMAT
        );
    }

    #[test]
    fn method_follows_curl_precedence() {
        let mut args = Args::default();
        assert_eq!(method(&args, false, false).unwrap(), Method::GET);
        assert_eq!(method(&args, true, false).unwrap(), Method::POST);
        args.get = true;
        assert_eq!(method(&args, true, false).unwrap(), Method::GET);
        args.head = true;
        args.get = false;
        assert_eq!(method(&args, false, false).unwrap(), Method::HEAD);
        args.request = Some("PURGE".into());
        assert_eq!(method(&args, false, false).unwrap().as_str(), "PURGE");
    }
}
