//! `roberta`: the user commands (see the crate's library, `roberta_cli`).
fn main() -> std::process::ExitCode {
    roberta_cli::main_from(std::env::args_os())
}
