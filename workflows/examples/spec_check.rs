//! Validates spec files and prints their errors: `cargo run -p failback-workflows --example
//! spec_check -- failback.toml…`. Exits 1 if any file is invalid.

fn main() {
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        match failback_workflows::spec::load(std::path::Path::new(&arg)) {
            Ok(_) => println!("{arg}: ok"),
            Err(e) => {
                failed = true;
                println!("{e}");
            }
        }
    }
    std::process::exit(i32::from(failed));
}
