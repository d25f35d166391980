"""`python cli.py evaluate`: one chat model, or every checkpoint of a run, each exported and served.

With `--checkpoints` (a folder of `cli.py fit` checkpoints, or a run folder holding `checkpoints/`), every
checkpoint in training-step order is exported to a Hugging Face folder (once: a re-run reuses it), served by
the `--serve` command template, evaluated as an openai-compatible student at its step, and stopped:

    <run>/exports/<checkpoint name>/          the exported model (what `{model}` becomes)
    <run>/exports/<checkpoint name>.serve.log the server's output, one section per start
    <output_dir>/step<step>/...               its evaluation (output_dir: default <run>/skillmix_evaluate)

This module sits in the training layer because export reads Lightning checkpoints; it imports the export
code (and so torch) only when there are checkpoints, so `evaluate` of an API model starts at once. The
single-model evaluation it wraps, and the server it starts, live in `graders`.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from graders.evaluate_command import GenerationIncompleteError, pending_generations
from graders.evaluate_command import evaluate as evaluate_model
from graders.evaluation_student import StudentSettings
from graders.model_server import ModelServer, check_template
from skillmix.errors import InputError

log = logging.getLogger(__name__)

Dtype = Literal["bfloat16", "float16", "float32"]


def evaluate(
    checkpoints: str | None = None,
    serve: str | None = None,
    serve_timeout: float = 600.0,
    export_dtype: Dtype = "bfloat16",
    **evaluate_args: Any,
) -> None:
    """SKILL-MIX(k) of any chat model, or of every checkpoint of a training run, each served by an engine.

    Without `checkpoints`, evaluates the one `--student` (an API model, a server or a local HF folder).

    Args:
        checkpoints: A folder of `cli.py fit` checkpoints (`*.ckpt` files or sharded checkpoint folders),
            or a run folder that holds one as `checkpoints/`. Each checkpoint, in step order (one per
            step: `last.ckpt` is skipped where a named checkpoint has its step), is exported once to
            `<run>/exports/<name>/`, served with `serve`, evaluated at its training step as the student
            (provider openai-compatible; the other `--student.*` fields apply: sampling, concurrency,
            retries, cache) and stopped. Outputs go to `output_dir` (default `<run>/skillmix_evaluate`),
            run name `run_name` (default the run folder's last two parts). A re-run skips finished
            checkpoints without serving them and finishes the rest.
        serve: With `checkpoints`: the command that serves one model folder with an OpenAI-compatible API,
            `{model}` being the exported folder and `{port}` a free port on 127.0.0.1 (`{host}` is
            127.0.0.1), e.g. "vllm serve {model} --port {port}", "python -m sglang.launch_server
            --model-path {model} --port {port}" or "transformers serve {model} --host {host} --port
            {port}". Its output goes to `<run>/exports/<name>.serve.log`.
        serve_timeout: Seconds a started server may take to answer GET /v1/models.
        export_dtype: Data type of the exported weights.
    """
    if checkpoints is None:
        if serve is not None:
            raise InputError("--serve needs --checkpoints (the checkpoints to serve)")
        evaluate_model(**evaluate_args)
        return
    if serve is None:
        raise InputError(
            '--checkpoints needs --serve, the command that serves each export, e.g. --serve "vllm serve '
            '{model} --port {port}"'
        )
    if evaluate_args.pop("step", 0) or evaluate_args.pop("checkpoint", None):
        raise InputError("with --checkpoints each checkpoint has its own --step and --checkpoint; omit them")
    check_template(serve)
    run = run_folder(Path(checkpoints))
    evaluate_args["output_dir"] = evaluate_args.get("output_dir") or run / "skillmix_evaluate"
    evaluate_args["run_name"] = evaluate_args.get("run_name") or "/".join(run.resolve().parts[-2:])
    student: StudentSettings = evaluate_args.pop("student", None) or StudentSettings()
    ordered = checkpoints_by_step(Path(checkpoints))
    log.info("%d checkpoints to evaluate, at steps %s", len(ordered), [step for step, _ in ordered])
    for step, checkpoint in ordered:
        exported = run / "exports" / _name(checkpoint)
        served = replace(student, provider="openai-compatible", model=str(exported), base_url=None)
        at_step = dict(evaluate_args, step=step, checkpoint=str(checkpoint))
        if evaluate_args.get("dry_run") or not pending_generations(**at_step):
            # nothing to generate (or only counting): no export, no server; grading goes on without them
            evaluate_model(student=served, **at_step)
            continue
        export_once(checkpoint, exported, export_dtype)
        log_path = exported.with_name(f"{exported.name}.serve.log")
        name = f"checkpoint {checkpoint} (step {step})"
        with ModelServer(serve, str(exported), log_path, name=name, startup_timeout=serve_timeout) as server:
            log.info("serving %s at %s (log: %s)", name, server.base_url, log_path)
            try:
                evaluate_model(student=replace(served, base_url=server.base_url), **at_step)
            except GenerationIncompleteError as error:
                code = server.exit_code()
                if code is not None:
                    raise server.failure(
                        f"the server exited with code {code} during the evaluation; the answers it gave are "
                        "kept, and the same command resumes"
                    ) from error
                raise


def run_folder(path: Path) -> Path:
    """The run a checkpoints argument belongs to: the folder above `checkpoints/`, else the folder itself."""
    if not path.is_dir():
        raise InputError(f"--checkpoints {path}: no such folder. Fix: pass a run's checkpoints folder")
    if (path / "checkpoints").is_dir():
        return path
    return path.parent if path.name == "checkpoints" else path


def checkpoints_by_step(path: Path) -> list[tuple[int, Path]]:
    """(training step, checkpoint) in step order, one checkpoint per step (a named one before `last`)."""
    from lightning_modules.export import checkpoint_step

    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = sorted(folder.glob("*.ckpt"))
    if not found:
        raise InputError(
            f"no checkpoints (*.ckpt) in {folder}. Fix: pass the folder `cli.py fit` saved them in"
            ", or its run folder"
        )
    ranked = sorted(
        ((checkpoint_step(ckpt), ckpt) for ckpt in found), key=lambda sc: (sc[0], sc[1].stem == "last")
    )
    ordered: list[tuple[int, Path]] = []
    for step, ckpt in ranked:
        if ordered and ordered[-1][0] == step:
            log.info("%s is at step %d like %s: evaluated once", ckpt.name, step, ordered[-1][1].name)
            continue
        ordered.append((step, ckpt))
    return ordered


def export_once(checkpoint: Path, exported: Path, dtype: Dtype) -> None:
    """Export `checkpoint` to `exported` unless an export of this very file (and dtype) is there already.

    The export is written beside its place and renamed into it when complete, so a killed export is redone.
    """
    from lightning_modules.export import export

    source = _stamp(checkpoint, dtype)
    marker = exported / "exported_from.json"
    if marker.is_file() and json.loads(marker.read_text()) == source:
        log.info("%s: reusing its export %s", checkpoint.name, exported)
        return
    partial = exported.with_name(f"{exported.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    export(ckpt_path=str(checkpoint), output_dir=str(partial), dtype=dtype)
    (partial / marker.name).write_text(json.dumps(source))
    shutil.rmtree(exported, ignore_errors=True)
    partial.rename(exported)


def _stamp(checkpoint: Path, dtype: Dtype) -> dict[str, Any]:
    """What identifies a checkpoint's export: the file (a rewritten `last.ckpt` differs) and the dtype."""
    stat = (checkpoint / "meta.pt" if checkpoint.is_dir() else checkpoint).stat()
    return {
        "checkpoint": str(checkpoint.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "dtype": dtype,
    }


def _name(checkpoint: Path) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in checkpoint.stem)
