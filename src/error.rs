//! The binary's one error type: what went wrong, and the exit code that says which kind.
//!
//! Library code returns `anyhow` errors with their context (which path, which option); the
//! command decides at its boundaries whether a failure was the user's input or the work.
//!
//! | code | meaning                                                                      |
//! |------|------------------------------------------------------------------------------|
//! | 0    | success (a closed stdout, `rshiv cache list \| head`, is success too)        |
//! | 1    | the build, the install or another operation failed                           |
//! | 2    | usage: a bad option value, a bad `[tool.rshiv]`, conflicting options (clap's) |
//! | 130  | interrupted by Ctrl-C or SIGTERM                                             |

/// Why `rshiv` stopped, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad option value, a bad `[tool.rshiv]`, conflicting options: exit 2, like clap's
    /// own errors for unknown options.
    #[error(transparent)]
    Usage(anyhow::Error),
    /// The build, the install, or another operation failed: exit 1.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
    /// Ctrl-C or SIGTERM: exit 130, the shell's code for an interrupt.
    #[error("interrupted")]
    Interrupted,
}

/// The exit codes as the man page and `--help` print them; [`Error::exit_code`] is the code.
pub const EXIT_STATUS: &str = "Exit status: 0 success; 1 the build or install failed; \
2 usage error (a bad option value, a bad [tool.rshiv], conflicting options); 130 interrupted.";

impl Error {
    /// A usage error from anything `anyhow` takes.
    pub fn usage(err: impl Into<anyhow::Error>) -> Error {
        Error::Usage(err.into())
    }

    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Failed(_) => 1,
            Error::Usage(_) => 2,
            Error::Interrupted => 130,
        }
    }

    /// The causes, outermost first.
    pub fn chain(&self) -> Vec<String> {
        match self {
            Error::Usage(err) | Error::Failed(err) => err.chain().map(|c| c.to_string()).collect(),
            Error::Interrupted => vec![self.to_string()],
        }
    }

    /// Whether this is stdout closed under us (`rshiv info --json x.pyz | head -1`): not a
    /// failure of rshiv's.
    pub fn is_broken_pipe(&self) -> bool {
        let (Error::Usage(err) | Error::Failed(err)) = self else {
            return false;
        };
        err.chain().any(|cause| {
            let kind = match cause.downcast_ref::<serde_json::Error>() {
                Some(json) => json.io_error_kind(),
                None => cause
                    .downcast_ref::<std::io::Error>()
                    .map(std::io::Error::kind),
            };
            kind == Some(std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Failed(err.into())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_code() {
        assert_eq!(Error::usage(anyhow::anyhow!("bad")).exit_code(), 2);
        assert_eq!(Error::from(anyhow::anyhow!("failed")).exit_code(), 1);
        assert_eq!(Error::Interrupted.exit_code(), 130);
    }

    #[test]
    fn a_broken_pipe_is_recognized_through_context() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let err = Error::from(anyhow::Error::new(pipe).context("write the listing"));
        assert!(err.is_broken_pipe());
        assert!(!Error::from(anyhow::anyhow!("other")).is_broken_pipe());
    }
}
