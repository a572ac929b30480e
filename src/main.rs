fn main() -> std::process::ExitCode {
    caracal_deploy::cli::main()
}
