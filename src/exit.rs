//! The exit codes of the command-line contract. A leaf: it imports nothing of the crate, so
//! every layer can name an outcome; which error maps to which code is decided in one place,
//! `engine::error::EngineError::exit`.

/// How a command ended, as the contract numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything asked for was done.
    Success,
    /// 1: anything else (interrupted, internal error, a closed stdout).
    Other,
    /// 2: invalid input (answers file, flags).
    InvalidInput,
    /// 3: a check or a step failed.
    CheckFailed,
    /// 4: warnings only (3 with `--fail-on-warning`).
    Warnings,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Other => 1,
            Exit::InvalidInput => 2,
            Exit::CheckFailed => 3,
            Exit::Warnings => 4,
        }
    }

    /// The outcome of a step that found `errors` and `warnings`.
    pub const fn from_findings(errors: usize, warnings: usize, fail_on_warning: bool) -> Exit {
        if errors > 0 || (warnings > 0 && fail_on_warning) {
            Exit::CheckFailed
        } else if warnings > 0 {
            Exit::Warnings
        } else {
            Exit::Success
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn findings_map_to_the_contract() {
        assert_eq!(Exit::from_findings(0, 0, false).code(), 0);
        assert_eq!(Exit::from_findings(0, 2, false).code(), 4);
        assert_eq!(Exit::from_findings(0, 2, true).code(), 3);
        assert_eq!(Exit::from_findings(1, 0, false).code(), 3);
    }
}
