//! towline-curl: see [`towline_cli::curl`].

fn main() -> std::process::ExitCode {
    towline_cli::curl::main()
}
