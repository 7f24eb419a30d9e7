"""A SearchSpec from what a Python user writes: a dict (the spec's JSON form), a message or a
file, with keywords over it (submit(space="mobilenetv2", candidates=20, epochs=3))."""
import difflib
import os
import pathlib

from google.protobuf import json_format, text_format

from nas_client import errors
from nas_client.proto import nas_pb2

_METRICS = {
    "accuracy": nas_pb2.METRIC_ACCURACY,
    "latency": nas_pb2.METRIC_LATENCY,
    "peak_activation_bytes": nas_pb2.METRIC_PEAK_ACTIVATION_BYTES,
    "model_bytes": nas_pb2.METRIC_MODEL_BYTES,
    "params": nas_pb2.METRIC_PARAMS,
    "macs": nas_pb2.METRIC_MACS,
    "int8_model_bytes": nas_pb2.METRIC_INT8_MODEL_BYTES,
    "accuracy_drop": nas_pb2.METRIC_ACCURACY_DROP,
}


def build_spec(spec, keywords):
    """The nas.v1.SearchSpec of `spec` (None, a dict, a SearchSpec, or a .json or text-proto
    file) with `keywords` set over it; InvalidArgument for a file that does not parse, TypeError
    for an unknown keyword (suggesting the closest), ValueError for a bad value."""
    message = nas_pb2.SearchSpec()
    if isinstance(spec, nas_pb2.SearchSpec):
        message.CopyFrom(spec)
    elif isinstance(spec, dict):
        json_format.ParseDict(spec, message)
    elif isinstance(spec, (str, os.PathLike)):
        path = pathlib.Path(spec)
        text = path.read_text()
        try:
            if path.suffix == ".json":
                json_format.Parse(text, message)
            else:
                text_format.Parse(text, message)
        except (json_format.ParseError, text_format.ParseError) as e:
            raise errors.InvalidArgument(f"{path}: {e}", field="spec") from None
    elif spec is not None:
        raise TypeError("spec: a dict, a nas.v1.SearchSpec, or the path of a .json or "
                        f"text-proto file, not {type(spec).__name__}")
    apply_keywords(message, keywords)
    return message


_KEYWORDS = (
    "name", "dataset", "space", "strategy", "seed", "strategy_settings", "profiles",
    "objectives", "constraints", "candidates", "parallel", "max_attempts", "wall_seconds",
    "epochs", "batch_size", "optimizer", "learning_rate", "schedule", "weight_decay",
    "label_smoothing", "augment", "train_subset", "validation_fraction", "validation_examples",
    "qat_epochs", "rungs", "eta", "finalists", "final_epochs", "reference", "warm_start",
    "warm_start_seeds", "warmup_fraction", "precision")


def _metric(name, what):
    try:
        return _METRICS[name.lower()]
    except KeyError:
        raise ValueError(f"{what}: {name!r} is not a metric ({', '.join(_METRICS)})") from None


def apply_keywords(spec, kw):
    unknown = [k for k in kw if k not in _KEYWORDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], _KEYWORDS, n=1)
        raise TypeError(f"submit() got an unexpected keyword {unknown[0]!r}"
                        + (f"; did you mean {close[0]!r}?" if close else ""))
    kw = {k: v for k, v in kw.items() if v is not None}
    r, b = spec.recipe, spec.budget
    simple = {"name": (spec, "display_name"), "dataset": (spec, "dataset"),
              "candidates": (b, "max_candidates"), "parallel": (b, "max_parallel"),
              "max_attempts": (b, "max_attempts"), "wall_seconds": (b, "max_wall_seconds"),
              "epochs": (r, "epochs"), "batch_size": (r, "batch_size"),
              "learning_rate": (r, "learning_rate"), "weight_decay": (r, "weight_decay"),
              "label_smoothing": (r, "label_smoothing"), "train_subset": (r, "train_subset"),
              "validation_fraction": (r, "validation_fraction"),
              "validation_examples": (r, "validation_examples"), "qat_epochs": (r, "qat_epochs"),
              "warmup_fraction": (r, "warmup_fraction")}
    for key, (message, field) in simple.items():
        if key in kw:
            setattr(message, field, kw[key])
    if "space" in kw:
        if isinstance(kw["space"], dict):
            spec.ClearField("space")
            json_format.ParseDict(kw["space"], spec.space)
        else:
            spec.space.name = kw["space"]
    if "strategy" in kw:
        spec.strategy.name = kw["strategy"]
    if "seed" in kw:
        spec.strategy.seed = kw["seed"]
    for key, value in kw.get("strategy_settings", {}).items():
        spec.strategy.settings[key] = str(value)
    if "profiles" in kw:
        profiles = kw["profiles"]
        if isinstance(profiles, str):
            profiles = [p.strip() for p in profiles.split(",")]
        spec.ClearField("profile_ids")
        spec.profile_ids.extend(profiles)
    if "objectives" in kw:
        spec.ClearField("objectives")
        for m in kw["objectives"]:
            spec.objectives.add(metric=_metric(m, "objectives"))
    if "constraints" in kw:
        spec.ClearField("constraints")
        for m, bound in kw["constraints"].items():
            spec.constraints.add(metric=_metric(m, "constraints"), bound=float(bound))
    if "optimizer" in kw:
        names = {"sgd": nas_pb2.OPTIMIZER_SGD, "adamw": nas_pb2.OPTIMIZER_ADAMW}
        if kw["optimizer"].lower() not in names:
            raise ValueError(f"optimizer: {kw['optimizer']!r} is neither 'sgd' nor 'adamw'")
        r.optimizer = names[kw["optimizer"].lower()]
    if "schedule" in kw:
        names = {"cosine": nas_pb2.LR_SCHEDULE_COSINE, "step": nas_pb2.LR_SCHEDULE_STEP,
                 "one_cycle": nas_pb2.LR_SCHEDULE_ONE_CYCLE,
                 "cosine_warmup": nas_pb2.LR_SCHEDULE_COSINE_WARMUP}
        if kw["schedule"].lower() not in names:
            raise ValueError(f"schedule: {kw['schedule']!r} is not one of {', '.join(names)}")
        r.schedule = names[kw["schedule"].lower()]
    if "precision" in kw:
        names = {"auto": nas_pb2.PRECISION_AUTO, "fp32": nas_pb2.PRECISION_FP32,
                 "bf16": nas_pb2.PRECISION_BF16}
        if kw["precision"].lower() not in names:
            raise ValueError(f"precision: {kw['precision']!r} is not 'auto', 'fp32' or 'bf16'")
        r.precision = names[kw["precision"].lower()]
    if "augment" in kw:
        augment = kw["augment"]
        if isinstance(augment, str):
            augment = [a.strip() for a in augment.split(",") if a.strip()]
        bad = [a for a in augment if a not in ("crop", "flip", "none")]
        if bad:
            raise ValueError(f"augment: {bad[0]!r} is not 'crop', 'flip' or 'none'")
        r.augment_crop, r.augment_flip = "crop" in augment, "flip" in augment
    if "rungs" in kw:
        spec.multi_fidelity.rungs = kw["rungs"]
    if "eta" in kw:
        spec.multi_fidelity.eta = kw["eta"]
    if "finalists" in kw:
        spec.final_training.finalists_per_profile = kw["finalists"]
    if "final_epochs" in kw:
        spec.final_training.epochs = kw["final_epochs"]
    if "reference" in kw:
        spec.ClearField("reference")
        spec.reference.preset = kw["reference"]
    if "warm_start" in kw:
        spec.warm_start.search_id = int(kw["warm_start"])
    if "warm_start_seeds" in kw:
        spec.warm_start.seeds = kw["warm_start_seeds"]
