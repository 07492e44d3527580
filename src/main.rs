//! The `chatpulse` binary: parses the command line and hands over to [`chatpulse::cli`].

fn main() -> std::process::ExitCode {
    chatpulse::cli::main()
}
