"""Zero-cost proxies as rank-only estimators: synflow, snip, grad-norm, naswot, jacob-cov, fisher, grasp,
plain, l2-norm, and the two baselines every zero-cost paper compares against, params and flops.

Each reads one score that the recorder computed from the untrained network and one minibatch
(``fhbench.record.proxies``, where the definitions and papers are) and stored in the trace; the view exposes
them as ``trial.proxies`` (name -> value, or None where the proxy failed) and the reasons for failures
as ``trial.proxy_errors``. The score is the same at every checkpoint: it never sees training.

**They rank, they do not predict an accuracy** (higher score = better architecture, as the papers and
Abdelfattah et al.'s code orient them: grasp and jacob-cov are already negated there), so they declare
``rank_only = True``: Kendall tau and Spearman rho apply, MAE does not. The harness needs a number in
[0, 1], so the score is mapped by a strictly increasing function into (0, 1):

    x = log(score) for the non-negative ones (synflow, snip, grad-norm, fisher, l2-norm, params, flops:
        sums and counts spanning many orders of magnitude); x = score for the signed ones (naswot, a
        log-determinant; jacob-cov, a sum of logarithms; grasp and plain, signed sums);
    estimate = atan2(1, -x) / pi, which is 1/2 + atan(x)/pi written without cancellation for x < 0.

Why this map: it is strictly increasing over all reals and stays distinguishable in float64 where a
logistic of log(score) is not (that one rounds every score above ~1e16 to 1.0, and synflow of a deep
network is far above). Two scores collapse only if their x differ by less than about 3e-16 * x**2:
for synflow near float64's limit (x ~ 700), scores within a factor 1 + 2e-10 of each other. A score of 0 (an
output that does not depend on the weights) maps below every positive score and above 0.0, the value
a failed estimate is scored as, so failures still rank last. A failed or missing proxy raises
ValueError, which the harness records as a failed row.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

RECORD_HINT = "record the traces again with zero-cost proxies on (the suite's [record] proxies setting)"
"""What a user must do when the traces carry no proxies; the recorder's setting is named here only."""

# log of a number below the smallest positive float64: where a score of exactly 0 goes.
_LOG_OF_ZERO = math.log(math.ulp(0.0)) - 1.0


def proxy_to_unit(value: float, *, log_scale: bool) -> float:
    """The strictly increasing map of a proxy score into (0, 1) described in the module docstring."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"a proxy score must be a finite number, got {value!r}")
    if log_scale:
        if value < 0:
            raise ValueError(f"this proxy is a sum of magnitudes and cannot be negative, got {value!r}")
        x = math.log(value) if value > 0 else _LOG_OF_ZERO
    else:
        x = float(value)
    return math.atan2(1.0, -x) / math.pi


class _ZeroCostProxy:
    version = "1"
    rank_only = True  # a score that orders architectures, not an accuracy (see module docstring)
    log_scale = True

    def fit(self, population: Sequence) -> None:
        """Nothing to learn: each trial's score was fixed at recording."""

    def recorded_cost_s(self, trial) -> float:
        """The wall seconds the recorder spent on this proxy: the harness adds them to the estimate's
        overhead, so the leaderboard charges the proxy what it cost (in epochs of the same trial)."""
        return float((getattr(trial, "proxy_seconds", None) or {}).get(self.name, 0.0))

    def estimate(self, trial) -> float:
        proxies = getattr(trial, "proxies", None)
        trial_id = getattr(trial, "trial_id", "?")
        if not proxies:
            raise ValueError(f"trial {trial_id}: trace recorded without the zero-cost proxy '{self.name}'; {RECORD_HINT}")
        if self.name not in proxies:
            raise ValueError(f"trial {trial_id}: trace recorded without the zero-cost proxy '{self.name}' (it holds "
                             f"{', '.join(sorted(proxies))}: recorded before fhbench computed this one); record the "
                             f"traces again into a new trace store (--traces DIR)")
        value = proxies[self.name]
        if value is None:
            why = (getattr(trial, "proxy_errors", None) or {}).get(self.name, "no reason recorded")
            raise ValueError(f"trial {trial_id}: the zero-cost proxy '{self.name}' failed at recording: {why}")
        try:
            return proxy_to_unit(value, log_scale=self.log_scale)
        except ValueError as err:
            raise ValueError(f"trial {trial_id}: zero-cost proxy '{self.name}': {err}") from None


class Synflow(_ZeroCostProxy):
    """Synaptic flow at initialisation (Tanaka et al. 2020; Abdelfattah et al. 2021)."""

    name = "synflow"


class Snip(_ZeroCostProxy):
    """Connection sensitivity |w * dL/dw| summed (Lee et al. 2019; Abdelfattah et al. 2021)."""

    name = "snip"


class GradNorm(_ZeroCostProxy):
    """Summed L2 norms of the weight gradients (Abdelfattah et al. 2021)."""

    name = "grad-norm"


class Naswot(_ZeroCostProxy):
    """log|det| of the activation-code kernel (Mellor et al. 2021)."""

    name = "naswot"
    log_scale = False


class JacobCov(_ZeroCostProxy):
    """Correlation of the images' input Jacobians (Mellor et al. 2021, arXiv v1; as NASLib computes it)."""

    name = "jacob-cov"
    log_scale = False


class Fisher(_ZeroCostProxy):
    """Channel saliency 1/2 mean (sum a * dL/da)**2 (Turner et al. 2020), summed as Abdelfattah et al. 2021's
    code sums it."""

    name = "fisher"


class Grasp(_ZeroCostProxy):
    """-w * Hg summed (Wang et al. 2020; negated as in Abdelfattah et al. 2021's code)."""

    name = "grasp"
    log_scale = False


class Plain(_ZeroCostProxy):
    """w * dL/dw summed, signed (Abdelfattah et al. 2021)."""

    name = "plain"
    log_scale = False


class L2Norm(_ZeroCostProxy):
    """Summed Frobenius norms of the weights at initialisation (Abdelfattah et al. 2021)."""

    name = "l2-norm"


class Params(_ZeroCostProxy):
    """The number of learnable parameters: the baseline of every zero-cost paper."""

    name = "params"


class Flops(_ZeroCostProxy):
    """Multiply-accumulates of one image's forward pass: the other baseline of every zero-cost paper."""

    name = "flops"
