"""`fastmm train` and `fastmm evaluate`: StrassenNets training from the command line.

Importing this module is cheap: torch and the training code load inside the commands.
"""

from __future__ import annotations

import contextlib
import json
import math

import click

from fastmm.cli import cli
from fastmm.cli.numbers import FLOAT, INT

DATASETS = ("fashion-mnist", "mnist", "cifar10", "imagenet")


_PARAM = {"model": "model_name"}  # TrainConfig field -> click parameter, where they differ
_NOT_GIVEN = (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)


@cli.command("train")
@click.option("--dataset", type=click.Choice(DATASETS), default="fashion-mnist", show_default=True)
@click.option(
    "--data-dir", default=None, help="Dataset directory (default: the dataset's usual place)."
)
@click.option(
    "--model",
    "model_name",
    default="resnet20",
    show_default=True,
    help="resnet8/20/32/44/56 (CIFAR-style), resnet18/34 (ImageNet-style).",
)
@click.option(
    "--width", type=FLOAT, default=None, help="Channel-width multiplier of the model, in (0, 16]."
)
@click.option(
    "--r-ratio",
    type=FLOAT,
    default=0.0,
    show_default=True,
    help="Hidden width r/c_out of the SPN layers, at most 64; 0 or omitted: dense full precision.",
)
@click.option(
    "--quant",
    type=click.Choice(("twn", "ttq")),
    default=None,
    help="Ternary-weight baseline instead of SPN layers: every conv TWN (0.7·mean|W| threshold, "
    "one derived scale per layer) or TTQ (learned positive and negative scales per layer).",
)
@click.option(
    "--tile", type=INT, default=1, show_default=True, help="Output tile p (p×p) of the SPN layers, 1..64."
)
@click.option(
    "--groups",
    type=INT,
    default=1,
    show_default=True,
    help="Groups g of the SPN layers' Wb conv, 1..8192 (g = 1 in layers whose c_in it does not divide).",
)
@click.option(
    "--stages",
    default=None,
    help="Comma list of full,ternary,finetune [default: all three; 'full' if dense].",
)
@click.option(
    "--epochs", default="1", show_default=True, help="Epochs per stage: N or a comma list."
)
@click.option(
    "--lr",
    default="0.1",
    show_default=True,
    help="One value (used as lr, lr/10, lr/100 per stage) or a comma list per stage; each in (0, 10].",
)
@click.option(
    "--schedule", type=click.Choice(("cosine", "step")), default="cosine", show_default=True
)
@click.option("--momentum", type=FLOAT, default=0.9, show_default=True, help="In [0, 1).")
@click.option("--weight-decay", type=FLOAT, default=1e-4, show_default=True, help="In [0, 1].")
@click.option("--batch-size", type=INT, default=128, show_default=True, help="Global batch size.")
@click.option(
    "--kd-teacher", default=None,
    help="Checkpoint of a full-precision dense teacher (no --r-ratio or --quant).",
)
@click.option("--kd-lambda", type=FLOAT, default=0.5, show_default=True, help="In [0, 1].")
@click.option("--kd-temp", type=FLOAT, default=1.0, show_default=True, help="In (0, 100].")
@click.option(
    "--out", default=None,
    help="Run directory, made if missing "
    "[default: runs/<model>-r<R>-p<tile>; runs/<model>-<quant> with --quant].",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--device", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True)
@click.option("--seed", type=INT, default=0, show_default=True, help="In 0..2^62-1.")
@click.option("--train-subset", type=INT, default=None, help="Train on N images (seeded choice).")
@click.option(
    "--workers", type=INT, default=0, show_default=True, help="Loader processes (ImageNet only)."
)
@click.option("--image-size", type=INT, default=224, show_default=True, help="Crop size (ImageNet only).")
@click.option(
    "--eval-every",
    type=INT,
    default=1,
    show_default=True,
    help="Test every N epochs; 0: only at the end of each stage.",
)
@click.option("--threads", type=INT, default=None, help="torch CPU threads per process, 1..1024.")
@click.option("--stop-after", type=INT, default=None, hidden=True)
def train_command(
    dataset,
    data_dir,
    model_name,
    width,
    r_ratio,
    quant,
    tile,
    groups,
    stages,
    epochs,
    lr,
    schedule,
    momentum,
    weight_decay,
    batch_size,
    kd_teacher,
    kd_lambda,
    kd_temp,
    out,
    resume,
    device,
    seed,
    train_subset,
    workers,
    image_size,
    eval_every,
    threads,
    stop_after,
) -> int | None:
    """Train a ResNet — dense, as a StrassenNet (--r-ratio) or with ternary weights
    (--quant twn|ttq) — in stages full → ternary → finetune."""
    from fastmm.nn.train import TrainConfig, train

    if stages is None and not resume:  # a resumed run keeps its own stages
        stages = "full,ternary,finetune" if r_ratio > 0 or quant else "full"
    if out is None:
        out = f"runs/{model_name}-{quant}" if quant else f"runs/{model_name}-r{r_ratio:g}-p{tile}"
    settings = dict(
        dataset=dataset,
        data_dir=data_dir,
        model=model_name,
        width=width,
        r_ratio=r_ratio,
        quant=quant,
        tile=tile,
        groups=groups,
        stages=stages,
        epochs=epochs,
        lr=lr,
        schedule=schedule,
        momentum=momentum,
        weight_decay=weight_decay,
        batch_size=batch_size,
        kd_teacher=kd_teacher,
        kd_lambda=kd_lambda,
        kd_temp=kd_temp,
        out=out,
        device=device,
        seed=seed,
        train_subset=train_subset,
        workers=workers,
        image_size=image_size,
        eval_every=eval_every,
        threads=threads,
        stop_after=stop_after,
    )
    # the options typed, by where click took them from (a value equal to the default may still be
    # typed): --image-size or --workers typed for a dataset they do not act on is refused
    ctx = click.get_current_context()
    given = {k for k in settings
             if k == "out" or ctx.get_parameter_source(_PARAM.get(k, k)) not in _NOT_GIVEN}
    if resume:  # what was not given is the saved run's: only options typed now are compared with it
        settings = {k: v for k, v in settings.items() if v is not None and k in given}
        given = set(settings)
    cfg = TrainConfig(**settings)
    # SIGINT, SIGTERM and SIGHUP stop training alike (exit 130, 143, 129), as they stop `search`:
    # the last epoch's checkpoint stands and the run's temporary files are removed.
    from fastmm.search.runner import StopSignals

    with StopSignals() as signals:
        try:
            result = train(cfg, resume=resume, given=given)
        except BaseException:  # KeyboardInterrupt, or what the signal broke (a killed loader process)
            if signals.signum is None:
                raise
            with signals.shield(), contextlib.suppress(OSError, ValueError):
                click.echo("interrupted", err=True)
            return signals.exit_code
    from fastmm.nn.distributed import launch_rank

    if launch_rank() != 0:  # under torchrun the run is reported once, by rank 0, as its epochs are
        return None
    if result.get("stopped"):
        click.echo(f"stopped after {result['global_epoch']} epochs; continue with --resume")
    elif "test_acc" in result:
        click.echo(f"test accuracy {100 * result['test_acc']:.2f}%  ({out})")


@cli.command("evaluate")
@click.argument("checkpoint")
@click.option("--data-dir", default=None, help="Dataset directory (default: the one trained on).")
@click.option("--device", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True)
@click.option("--batch-size", type=INT, default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate_command(checkpoint, data_dir, device, batch_size, as_json) -> None:
    """Report the test accuracy of a training checkpoint."""
    from fastmm.nn.train import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, data_dir, device, batch_size)
    if as_json:
        # strict JSON: a loss that overflowed is null, not the NaN token JSON has no room for
        click.echo(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                               for k, v in result.items()}, allow_nan=False))
        return
    top5 = f"  top-5 {100 * result['top5']:.2f}%" if "top5" in result else ""
    variant = result["quant"].upper() if result.get("quant") else f"r/c_out={result['r_ratio']:g}"
    click.echo(
        f"{result['dataset']} {result['model']} {variant} ({result['stage']}): "
        f"accuracy {100 * result['acc']:.2f}%{top5}  loss {result['loss']:.4f}  "
        f"on {result['count']} images"
    )
