//! `rpc-codegen typescript SOURCE`: prints a typed TypeScript client for the
//! OpenRPC document at SOURCE (a JSON file, or an `http(s)://` URL).
//! Installed with `cargo install --path rpc-codegen`; it runs anywhere (the
//! client's runtime is compiled in).

use std::process::ExitCode;

const USAGE: &str = "usage: rpc-codegen typescript [--bigint] SOURCE
  SOURCE    an OpenRPC document: a JSON file, or an http(s):// URL (GET first, then POST rpc.discover)
  --bigint  integers that can exceed 2^53 - 1 (int64, uint64, ...) are `bigint`, read and sent
            exactly; without it they are `number`, and an answer holding one beyond 2^53 - 1
            fails with -32603 instead of coming back rounded
Prints one TypeScript module on standard output.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bigint = args.iter().any(|a| a == "--bigint");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--bigint").collect();
    match rest.as_slice() {
        [command, source] if *command == "typescript" => {
            let options = rpc_codegen::Options::default().bigint(bigint);
            let module =
                rpc_codegen::load(source).and_then(|d| rpc_codegen::typescript_with(&d, options));
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
        [flag] if *flag == "--help" || *flag == "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
