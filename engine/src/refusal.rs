//! Engine errors across processes: what the owner of a run answers a forwarded command with
//! ([`Refusal`], stored in the inbox reply) and the error the asker returns from it.

use crate::EngineError;
use failback_state::{Refusal, StoreError};

/// How the owner answers `e`; `None` when it is no answer at all (this process does not, or
/// no longer, drive the run, or it is stopping): the request is left for whoever drives it.
pub(crate) fn of_error(e: EngineError) -> Option<Refusal> {
    Some(match e {
        EngineError::NotOwned { .. }
        | EngineError::ShuttingDown
        | EngineError::Store(StoreError::Fenced { .. } | StoreError::Owned { .. }) => return None,
        EngineError::RunNotFound(_) => Refusal::RunNotFound,
        EngineError::InvalidState { message, .. } => Refusal::InvalidState { message },
        EngineError::UnknownStep { step, .. } => Refusal::UnknownStep { step },
        EngineError::Quarantined(q) => Refusal::Quarantined(q),
        EngineError::Store(e) if e.is_write_failure() => Refusal::Unavailable {
            message: e.to_string(),
        },
        other => Refusal::Failed {
            message: other.to_string(),
        },
    })
}

/// The error the asker returns for the owner's `refusal` of a command for `run`.
pub(crate) fn to_error(run: &str, refusal: Refusal) -> EngineError {
    let run = run.to_owned();
    match refusal {
        Refusal::RunNotFound => EngineError::RunNotFound(run),
        Refusal::InvalidState { message } => EngineError::InvalidState { run, message },
        Refusal::UnknownStep { step } => EngineError::UnknownStep { run, step },
        Refusal::Quarantined(q) => EngineError::Quarantined(q),
        Refusal::Unavailable { message } => EngineError::OwnerFailed {
            run,
            message,
            unavailable: true,
        },
        Refusal::Failed { message } => EngineError::OwnerFailed {
            run,
            message,
            unavailable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_errors_cross_unchanged() {
        let cases = [
            EngineError::RunNotFound("r".into()),
            EngineError::InvalidState {
                run: "r".into(),
                message: "run is succeeded; only a failed run can be retried".into(),
            },
            EngineError::UnknownStep {
                run: "r".into(),
                step: "nope".into(),
            },
        ];
        for e in cases {
            let text = e.to_string();
            let refusal = of_error(e).expect("an answer");
            assert_eq!(to_error("r", refusal).to_string(), text);
        }
    }

    #[test]
    fn not_driving_the_run_is_no_answer() {
        assert!(of_error(EngineError::NotOwned { run: "r".into() }).is_none());
        assert!(of_error(EngineError::ShuttingDown).is_none());
    }
}
