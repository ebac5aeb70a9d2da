"""Estimators arrive through the entry-point group ``fhbench.estimators``, the core's own included.

Each entry point names a class (or factory) called with the suite's ``[estimators.<name>]`` settings
as keyword arguments. Loading is lazy: listing estimators imports none of them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from fhbench.core.errors import SuiteError, UnknownEstimatorError

GROUP = "fhbench.estimators"


@dataclass(frozen=True)
class EstimatorInfo:
    name: str
    package: str
    package_version: str
    target: str  # module:attribute the entry point loads
    entry_point: EntryPoint

    def load(self):
        return self.entry_point.load()


def available_estimators() -> dict[str, EstimatorInfo]:
    found: dict[str, EstimatorInfo] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist
        info = EstimatorInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?", ep.value, ep)
        if ep.name in found and found[ep.name].target != info.target:
            raise UnknownEstimatorError(
                f"estimator '{ep.name}' is registered twice: by {found[ep.name].package} "
                f"({found[ep.name].target}) and by {info.package} ({info.target}); uninstall one")
        found[ep.name] = info
    return dict(sorted(found.items()))


def check_settings_names(settings: dict[str, Any], registry: dict[str, EstimatorInfo]) -> None:
    """A settings table for a name nothing registers is a typo: fail before any work is done."""
    for name in settings:
        if name not in registry:
            raise UnknownEstimatorError(f"[estimators.{name}]: no installed estimator is called '{name}' "
                                        f"(installed: {', '.join(registry) or 'none'})")


def _load(name: str, registry: dict[str, EstimatorInfo]):
    if name not in registry:
        known = ", ".join(registry) or "none"
        raise UnknownEstimatorError(f"unknown estimator '{name}' (installed: {known}; see `fhbench estimators`)")
    try:
        return registry[name].load()
    except Exception as err:  # a broken plugin is the user's environment, reported on one line
        raise UnknownEstimatorError(f"estimator '{name}' ({registry[name].target}) fails to load: "
                                    f"{type(err).__name__}: {err}") from None


def effective_settings(name: str, settings: dict[str, Any] | None, registry: dict[str, EstimatorInfo], *,
                       source: str | None = None) -> dict:
    """The settings an estimator really runs with: the suite's, completed by the factory's defaults.
    A setting the estimator does not have is a one-line SuiteError in the user's words, naming the
    suite file (`source`) where the caller knows it.

    `device` is not a setting: the harness passes the scoring device (`--device`) to estimators that
    take one, so the suite cannot set it.
    """
    settings = dict(settings or {})
    where = f"{source}: " if source else ""
    if "device" in settings:
        raise SuiteError(f"{where}key 'estimators.{name}.device': the scoring device is set with --device, "
                         "not in the suite")
    signature = inspect.signature(_load(name, registry))
    parameters = signature.parameters
    known = ", ".join(p for p in parameters if p != "device"
                      and parameters[p].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                     inspect.Parameter.VAR_KEYWORD)) or "none"
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [key for key in settings if key not in parameters and not takes_any]
    if unknown:
        raise SuiteError(f"{where}key 'estimators.{name}.{unknown[0]}': estimator {name} has no setting "
                         f"'{unknown[0]}'; its settings: {known}")
    try:
        bound = signature.bind(**settings)
    except TypeError as err:  # a positional-only or otherwise unbindable factory
        raise SuiteError(f"{where}key 'estimators.{name}': {err} (its settings: {known})") from None
    bound.apply_defaults()
    return {key: value for key, value in bound.arguments.items() if key != "device"
            and parameters[key].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def describe_estimators(estimators: dict, registry: dict[str, EstimatorInfo],
                        settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a results file records of each estimator it ran: versions, origin and effective settings."""
    return {name: {"version": str(estimator.version), "package": registry[name].package,
                   "package_version": registry[name].package_version, "target": registry[name].target,
                   "settings": effective_settings(name, settings.get(name), registry),
                   "rank_only": is_rank_only(estimator)}
            for name, estimator in estimators.items()}


def is_rank_only(estimator) -> bool:
    """An estimator whose estimates order trials but are not accuracies (`rank_only = True`): scored on
    rank correlations only."""
    return getattr(estimator, "rank_only", False) is True


def create_estimator(name: str, settings: dict[str, Any] | None = None, *,
                     registry: dict[str, EstimatorInfo] | None = None, device=None, source: str | None = None):
    """Builds an estimator from its suite settings; `device` goes to factories that take one. `source`
    (the suite file) prefixes a bad setting's one-line error."""
    registry = available_estimators() if registry is None else registry
    effective_settings(name, settings, registry, source=source)  # names and signature, with a one-line error
    factory = _load(name, registry)
    kwargs = dict(settings or {})
    if device is not None and "device" in inspect.signature(factory).parameters:
        kwargs["device"] = str(device)
    try:
        estimator = factory(**kwargs)
    except (TypeError, ValueError) as err:  # a value the estimator refuses
        where = f"{source}: " if source else ""
        raise SuiteError(f"{where}key 'estimators.{name}': {err}") from None
    for attribute in ("name", "version", "fit", "estimate"):
        if not hasattr(estimator, attribute):
            raise UnknownEstimatorError(
                f"estimator '{name}' ({registry[name].target}) lacks '{attribute}': not an fhbench estimator")
    return estimator
