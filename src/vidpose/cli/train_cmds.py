"""Training and evaluation commands: train, evaluate."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import typer

from ..errors import DataFormatError, TrainingInterrupted
from . import app
from .checks import check_device, check_output_dir


@app.command("train")
def train_cmd(
    config: Path = typer.Argument(..., help="YAML recipe, e.g. configs/synthetic_nano.yaml"),
    overrides: list[str] = typer.Argument(None, help="dotted overrides: train.lr=1e-4 data.root=/data/pt18"),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="continue from OUT_DIR/last.pt if present"
    ),
    evaluate: bool = typer.Option(True, "--eval/--no-eval", help="validate during training, keep `best`"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Train a model. Under torchrun the same command trains with DDP on every process."""
    from ..config import load_config
    from ..tasks.train import train

    # torchrun's RANK, not the process group: the group is gone when train() returns, and every process
    # would print the summary.
    is_main = os.environ.get("RANK", "0") == "0"
    cfg = load_config(config, overrides or [])
    check_output_dir(cfg.train.out_dir, "train.out_dir")
    check_device(cfg.train.device, "train.device")
    try:
        result = train(
            cfg, resume=resume, progress=progress, evaluate=evaluate, log=typer.echo if is_main else None
        )
    except TrainingInterrupted as e:
        from . import _DEBUG

        if is_main:
            again = shlex.join(["vidpose", "train", str(config), *(overrides or [])])
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                again = f"the same torchrun command (torchrun ... -m vidpose.cli {again[len('vidpose ') :]})"
            typer.secho(
                f"interrupted ({e.signal_name}) at step {e.step} of {e.total_steps}; "
                f"saved {e.checkpoint}; resume with: {again}",
                fg="yellow",
                err=True,
            )
        _DEBUG["interrupt_reported"] = True
        sys.exit(130)
    if is_main:
        if not result["already_finished"]:
            trained = result["steps"] - result["start_step"]
            typer.echo(
                f"trained {trained} steps (now at step {result['steps']} of {result['total_steps']}); "
                f"last evaluation: {result['last_eval']}"
            )
        for name, path in result["files"].items():
            typer.echo(f"{name} model: {path}")


@app.command("evaluate")
def evaluate_cmd(
    config: Path = typer.Argument(
        ..., help="YAML recipe (data paths, eval settings; model, codec and preprocessing: the checkpoint's)"
    ),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="vidpose model file (.safetensors)"),
    boxes: str = typer.Option(None, "--boxes", help="'gt' or a detection file; default: data.val_boxes"),
    flip: bool = typer.Option(None, "--flip/--no-flip", help="flip test; default: eval.flip_test"),
    out: Path = typer.Option(None, "--out", help="output folder (default: <train.out_dir>/eval)"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
    key_frame: str = typer.Option(
        None, "--key-frame", help="corruption probe: clean, black or neighbour; default: data.key_frame"
    ),
    readout: str = typer.Option(
        "fused", "--readout", help="fused (the model) or motion (diagnostic: the motion branch's own head)"
    ),
    errors: bool = typer.Option(
        False,
        "--errors",
        help="also classify each predicted joint's error (good, jitter, left/right inversion, swap, miss) "
        "and print the AP each fix would give (report.json: diagnosis)",
    ),
    overrides: list[str] = typer.Argument(None, help="dotted overrides, e.g. data.root=/data/pt18"),
) -> None:
    """Evaluate a checkpoint on the validation split: PoseTrack table, report.json, per-joint AP chart."""
    from ..config import load_config
    from ..tasks.evaluate import evaluate_checkpoint

    cfg = load_config(config, [*(overrides or []), *([f"data.key_frame={key_frame}"] if key_frame else [])])
    # Checked before the (possibly hours long) evaluation: where it writes, the device, the files it reads.
    out = check_output_dir(
        out or Path(cfg.train.out_dir) / "eval", "--out" if out else "<train.out_dir>/eval"
    )
    device = check_device(device)
    if boxes is not None and boxes != "gt":
        # A command-line path is relative to the current folder (data.val_boxes in a recipe: data.root).
        if not Path(boxes).is_file():
            raise DataFormatError(
                f"--boxes {boxes}: file not found (relative to the current folder) and not 'gt'"
            )
        boxes = str(Path(boxes).resolve())
    if checkpoint.is_dir():
        raise DataFormatError(f"--checkpoint {checkpoint}: is a folder, expected a .safetensors model file")
    summary = evaluate_checkpoint(
        checkpoint,
        cfg,
        out_dir=out,
        boxes=boxes,
        flip_test=flip,
        device=device,
        readout=readout,
        diagnose=errors,
    )
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun the processes shared the work; one prints
    replaced = summary.report["from_checkpoint"]
    if replaced:
        shown = ", ".join(replaced[:4]) + (f" and {len(replaced) - 4} more" if len(replaced) > 4 else "")
        typer.echo(f"model settings from {checkpoint} (the recipe's differ): {shown}")
    typer.echo(
        f"{cfg.name}: {summary.report['windows']} windows, boxes {summary.report['boxes']}, "
        f"flip test {summary.report['flip_test']}, key frame {summary.report['key_frame']}"
    )
    typer.echo(summary.table)
    if summary.ap_hard is not None:
        typer.echo(
            f"AP on the hard subset ({summary.report['hard_frames']} frames): {summary.ap_hard.ap[-1]:.1f}"
        )
    if summary.diagnosis is not None:
        typer.echo(f"Error diagnosis (Ronchi and Perona's kinds, in PCKh units):\n{summary.diagnosis}")
    typer.echo(f"wrote {out}/report.json, {out}/per_joint_ap.png and {out}/predictions/")
