"""`fastmm count`: multiplications, additions and model size of a ResNet and its StrassenNet
(or, with --quant, its ternary-weight TWN / TTQ version)."""

from __future__ import annotations

import click

from fastmm.cli import cli
from fastmm.cli.numbers import FLOAT, INT
from fastmm.errors import InputError

# checkpoint "args" keys that may fill options the user did not give
_FROM_ARGS = ("model", "dataset", "r_ratio", "tile", "groups", "width", "convert_classifier", "quant")
_SPN_ONLY = ("r_ratio", "tile", "groups", "convert_classifier")  # meaningless with --quant
_DEFAULTS = {"r_ratio": 1.0, "tile": 1, "groups": 1, "width": 1.0, "convert_classifier": False}


def _sci(x: float) -> str:
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.4e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _num(x: float) -> str:
    return f"{round(x):,} ({_sci(x)})"


def _change(new: float, old: float) -> str:
    if old == 0:
        return ""
    return f"{new / old:.4g}× ({(new - old) / old:+.2%})"


def _table(c, weights_ternary: bool = True):
    from rich.table import Table

    image = f"{c.input_shape[1]}×{c.input_shape[2]}×{c.input_shape[0]}, {c.num_classes} classes"
    if c.quant:
        settings = "every conv ternary-weight, classifier full precision"
    else:
        used, convs = c.grouped
        where = f" in {used} of {convs} convs, g = 1 in the others" if c.groups > 1 and used < convs else ""
        settings = (
            f"r = {c.r_ratio:g}·c_out, p = {c.tile}, g = {c.groups}{where}, "
            f"classifier {'SPN' if c.convert_classifier else 'full precision'}"
        )
    title = f"{c.model} on {c.dataset} ({image}): full precision vs {c.variant} ({settings})"
    table = Table(title=title, title_justify="left")
    table.add_column("per image", no_wrap=True)
    table.add_column("full precision", justify="right", no_wrap=True)
    table.add_column(c.variant, justify="right", no_wrap=True)
    table.add_column(f"{c.variant} / full", justify="right", no_wrap=True)
    full, spn = c.full, c.spn
    if c.quant:
        rows = [
            ("multiplications (paper's convention: as the dense convs)", full.mults, spn.mults),
            ("multiplications (scale factored out of the sums)", full.mults, spn.mults_factored),
        ]
    else:
        rows = [
            ("multiplications (paper's formula)", full.mults, spn.mults),
            ("multiplications (executed, ⌈H/p⌉·⌈W/p⌉ tiles)", full.mults_executed, spn.mults_executed),
        ]
    rows.append(("additions (dense upper bound)", full.adds_dense, spn.adds_dense))
    if spn.adds_actual is not None and weights_ternary:
        rows.append(("additions (checkpoint's ternary nonzeros)", full.adds_dense, spn.adds_actual))
    for label, a, b in rows:
        table.add_row(label, _num(a), _num(b), _change(b, a))
    table.add_row(
        "model size (bits; ternary 2, others 32)" + (", TWN's α 32 per layer" if c.quant == "twn" else ""),
        f"{full.size_bits:,} ({full.size_bits / 8e6:.2f} MB)",
        f"{spn.size_bits:,} ({spn.size_bits / 8e6:.2f} MB)",
        _change(spn.size_bits, full.size_bits),
    )
    table.add_row(
        "parameters (ternary + full precision)",
        f"0 + {full.full_params:,}",
        f"{spn.ternary_params:,} + {spn.full_params:,}",
        "",
    )
    return table


@cli.command("count")
@click.option("--model", "model", default=None, help="resnet8/20/32/44/56 or resnet18/34.")
@click.option(
    "--dataset",
    default=None,
    help="imagenet (224²), cifar10/cifar100 (32²), mnist/fashion-mnist (28², 1 channel). "
    "Default: imagenet for resnet18/34, else cifar10.",
)
@click.option(
    "--r-ratio", type=FLOAT, default=None, help="Hidden width r = r_ratio·c_out; r_ratio in (0, 64] [1]."
)
@click.option("--tile", type=INT, default=None, help="Output tile p, 1..64 [1].")
@click.option("--groups", type=INT, default=None, help="Groups g of the ternary conv Wb, 1..8192 [1].")
@click.option("--width", type=FLOAT, default=None, help="Channel width multiplier in (0, 16] [1].")
@click.option(
    "--convert-classifier/--keep-classifier",
    default=None,
    help="Count the classifier as an SPN layer too [keep full precision].",
)
@click.option(
    "--quant",
    type=click.Choice(("twn", "ttq")),
    default=None,
    help="Count the ternary-weight baseline (every conv TWN or TTQ) instead of a StrassenNet.",
)
@click.option(
    "--checkpoint",
    type=str,
    default=None,
    help="A trained StrassenNet: count its actual additions; its 'args' fill options not given.",
)
def count_command(
    model: str | None,
    dataset: str | None,
    r_ratio: float | None,
    tile: int | None,
    groups: int | None,
    width: float | None,
    convert_classifier: bool | None,
    quant: str | None,
    checkpoint: str | None,
) -> None:
    """Count multiplications, additions and model size: full precision vs StrassenNet.

    The paper's conventions (see fastmm.nn.count), e.g.
    `fastmm count --model resnet18 --dataset imagenet --r-ratio 4 --tile 2` gives 5.48e6
    multiplications against 1.8166e9 (the paper rounds it to 1.8167e9); `--quant twn` counts the
    TWN baseline (the paper's convention counts its convs' multiplications as dense; also shown
    with the scale factored out of the sums).
    """
    given = {
        "model": model,
        "dataset": dataset,
        "r_ratio": r_ratio,
        "tile": tile,
        "groups": groups,
        "width": width,
        "convert_classifier": convert_classifier,
        "quant": quant,
    }
    _check_given(given)  # what the user typed, before the checkpoint is read
    from fastmm.nn import count as counting

    state, args = None, {}
    if checkpoint is not None:
        state, args = counting.load_state_dict(checkpoint)  # its args checked as the options are
        _check_against(given, args, checkpoint)
        # --keep-classifier (False) is what a TWN / TTQ model does anyway
        typed_spn = [f"--{k.replace('_', '-')}" for k in _SPN_ONLY
                     if given[k] is not None and not (k == "convert_classifier" and given[k] is False)]
        _fill_from_args(given, args, checkpoint)
        if given["quant"] is not None and typed_spn:  # a TWN / TTQ checkpoint has no SPN layers
            raise InputError(f"checkpoint {checkpoint} holds a {str(given['quant']).upper()} model; "
                             f"{', '.join(typed_spn)}: SPN layers only")
    if given["model"] is None:
        raise InputError("--model is required (or a --checkpoint whose args name the model)")
    if given["dataset"] is None:
        big = str(given["model"]).lower() in ("resnet18", "resnet34")
        given["dataset"] = "imagenet" if big else "cifar10"
    for key, value in _DEFAULTS.items():
        if given[key] is None:
            given[key] = value
    if checkpoint is not None and given["quant"] is None and not given["r_ratio"] > 0:
        raise InputError(f"checkpoint {checkpoint} holds a dense model (r_ratio 0): nothing to count")

    comparison = counting.compare(
        str(given["model"]),
        str(given["dataset"]),
        checkpoint=checkpoint,
        state=state,
        quant=given["quant"],
        r_ratio=float(given["r_ratio"]),
        tile=given["tile"],
        groups=given["groups"],
        width=float(given["width"]),
        convert_classifier=given["convert_classifier"],
        num_classes=args.get("num_classes"),
        in_channels=args.get("in_channels"),
        image_shape=args.get("image_shape"),
    )
    c = comparison
    if groups is not None and c.quant is None and c.groups > 1 and not c.grouped[0]:
        # refused as `fastmm train` refuses it (fastmm.nn.train.build_network); a checkpoint's own
        # setting is counted as it stands
        raise InputError(f"groups {c.groups} divides the input channels of no conv of "
                         f"{given['model']} (width {float(given['width']):g}): every layer would use g = 1")
    from rich.console import Console

    # a checkpoint of the stage 'full' holds full-precision Wb and Wc: the nonzeros of their
    # ternary rounding are not what the model computes with
    full_stage = args.get("stage_name") == "full"
    Console(width=max(Console().width, 150)).print(_table(comparison, weights_ternary=not full_stage))
    if full_stage:
        ternary = "its convs' weights" if c.quant else "Wb and Wc"
        click.echo(f"note: checkpoint {checkpoint} is at the stage 'full' ({ternary} full precision): the "
                   f"counts are those of its network once {ternary} are ternary (from the stage 'ternary' "
                   "on), and its additions are not counted from its weights")


def _check_given(given: dict) -> None:
    """The options given, within the bounds `fastmm train` and checkpoints share (fastmm.nn.config)."""
    if given["quant"] is not None:
        spn_given = [f"--{k.replace('_', '-')}" for k in _SPN_ONLY if given[k] is not None]
        if spn_given:
            raise InputError(
                f"--quant counts ternary-weight convs; {', '.join(spn_given)}: SPN layers only"
            )
    from fastmm.nn import config

    if given["r_ratio"] is not None:
        config.check_r_ratio(given["r_ratio"], dense=False)
    if given["tile"] is not None:
        config.check_tile(given["tile"])
    if given["groups"] is not None:
        config.check_groups(given["groups"])
    config.check_width(given["width"])


def _norm_dataset(name: str) -> str:
    key = str(name).lower().replace("_", "-")
    return "fashion-mnist" if key == "fashionmnist" else key


def _check_against(given: dict, args: dict, checkpoint: str) -> None:
    """Options given must agree with the settings the checkpoint stores: counting a model the
    checkpoint does not hold (--quant twn for a dense one, 3-channel cifar10 for a 1-channel one)
    would print numbers for a network that is not there."""
    def refuse(key: str, value, saved: str) -> None:
        raise InputError(f"--{key.replace('_', '-')} {value} contradicts checkpoint {checkpoint}, "
                         f"which holds {saved}; drop the option")

    for key in _FROM_ARGS:
        value = given[key]
        if value is None or key not in args:
            continue
        saved = args[key]
        if key == "quant":
            if str(value).lower() != str(saved or "").lower():
                r = args.get("r_ratio") or 0
                held = (f"a {str(saved).upper()} model" if saved else
                        f"a StrassenNet (r_ratio {r:g})" if r > 0 else "a dense model")
                refuse(key, value, held)
        elif saved is None:
            continue
        elif key == "dataset":
            if _norm_dataset(value) != _norm_dataset(saved):
                refuse(key, value, f"a model trained on {saved}")
        elif key == "model":
            if str(value).lower() != str(saved).lower():
                refuse(key, value, f"a {saved}")
        elif value != saved:
            refuse(key, value, f"{key} {saved:g}" if isinstance(saved, float) else f"{key} {saved}")
    if given["dataset"] is not None and isinstance(args.get("in_channels"), int):
        from fastmm.nn.count import dataset_shape

        channels = dataset_shape(str(given["dataset"]))[0]
        if channels != args["in_channels"]:
            refuse("dataset", given["dataset"], f"a model for {args['in_channels']}-channel images")


def _fill_from_args(given: dict, args: dict, checkpoint: str) -> None:
    """Options not given take the checkpoint's stored settings (already checked)."""
    keys = _FROM_ARGS
    if given["quant"] is not None or args.get("quant"):
        keys = tuple(k for k in _FROM_ARGS if k not in _SPN_ONLY)
    for key in keys:
        if given[key] is None and args.get(key) is not None:
            given[key] = args[key]
    if given["quant"] is not None and str(given["quant"]).lower() not in ("twn", "ttq"):
        raise InputError(f"checkpoint {checkpoint} has unusable args: quant {given['quant']!r}")
    if not isinstance(given["convert_classifier"], bool | None):
        raise InputError(f"checkpoint {checkpoint} has unusable args: convert_classifier "
                         f"{given['convert_classifier']!r:.30}")
