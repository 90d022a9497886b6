//! The front of a native executable (`rshiv --python-dist`): unpack the bundled interpreter
//! once, then run the file it is part of as a zip app. See `rshiv::native`.

fn main() -> std::process::ExitCode {
    rshiv::native::launch::main()
}
