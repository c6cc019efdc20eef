//! `failback`: the command-line binary. Subcommands land with issue 5.

fn main() {
    println!("failback {}", env!("CARGO_PKG_VERSION"));
}
