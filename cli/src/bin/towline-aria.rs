//! towline-aria: see [`towline_cli::aria`].

fn main() -> std::process::ExitCode {
    towline_cli::aria::main()
}
