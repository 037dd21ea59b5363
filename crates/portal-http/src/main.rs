// Only the server binary chooses the allocator; tests and library users keep their own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portal_http::cli::main()
}
