fn main() -> std::process::ExitCode {
    portal_http::cli::main()
}
