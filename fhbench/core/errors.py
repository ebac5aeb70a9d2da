"""Errors that the command line reports on one line (exit code 2), never as a traceback."""


class FhbenchError(Exception):
    """A user error: bad input that the user can fix (a suite file, a name, a path, a trace)."""


class SuiteError(FhbenchError):
    """A suite file that is malformed or fails validation."""


class ConfigError(FhbenchError):
    """A bad architecture or configuration, such as a malformed NAS-Bench-201 cell string."""


class DataError(FhbenchError):
    """A dataset that cannot be found, read or split as asked."""


class TraceError(FhbenchError):
    """A trace that is missing, incomplete or corrupt."""


class CorruptTraceError(TraceError):
    """A trace file that failed its checksum while an estimator read it: the trace's fault, never the
    estimator's. `trial_id` names the trial, so that `run` can quarantine and record it again."""

    def __init__(self, message: str, trial_id: str):
        super().__init__(message)
        self.trial_id = trial_id


class UnknownEstimatorError(FhbenchError):
    """An estimator name that no installed package registers."""


class LookAheadError(LookupError):
    """An estimator asked a trace view for an epoch after the one it may see.

    Not a user error: it marks the estimator's row as failed instead of stopping the suite.
    """
