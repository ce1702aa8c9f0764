//! `rpc-codegen typescript SOURCE`: prints a typed TypeScript client for the
//! OpenRPC document at SOURCE (a JSON file, or an `http(s)://` URL).
//! Installed with `cargo install --path rpc-codegen`; it runs anywhere (the
//! client's runtime is compiled in).

use std::process::ExitCode;

const USAGE: &str = "usage: rpc-codegen typescript SOURCE
  SOURCE  an OpenRPC document: a JSON file, or an http(s):// URL (GET first, then POST rpc.discover)
Prints one TypeScript module on standard output.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, source] if command == "typescript" => {
            let module = rpc_codegen::load(source).and_then(|d| rpc_codegen::typescript(&d));
            match module {
                Ok(module) => {
                    print!("{module}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("rpc-codegen: {error}");
                    ExitCode::from(1)
                }
            }
        }
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
