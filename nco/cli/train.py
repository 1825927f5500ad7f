"""`nco train`: the command line's options as a TrainConfig, checked, and the run's one-line result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from envs.errors import NcoError


def cmd_train(args) -> int:
    from nco.policy.model import PolicyConfig

    for flag, value in (("--init-from", args.init_from), ("--resume", args.resume)):
        if value and not Path(value).exists():
            raise NcoError(f"{flag}: checkpoint not found: {value}")
    from nco.train.run import TrainConfig, train

    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    if args.init_from:  # the checkpoint's architecture; --policy may switch its matrix inputs on or off
        from nco.policy.checkpoints import checkpoint_config, read_checkpoint_info

        own = checkpoint_config(read_checkpoint_info(args.init_from), Path(args.init_from))
        policy = replace(own, matrix=args.policy == "matrix") if args.policy in ("attention", "matrix") else own
    else:
        try:
            policy = PolicyConfig(num_layers=args.layers, embed_dim=args.embed_dim, matrix=args.policy == "matrix")
        except ValueError as e:  # in the options' own names
            raise NcoError(str(e).replace("embed_dim", "--embed-dim").replace("num_layers", "--layers")) from None
    if args.method == "expert":
        return _expert(args, policy)
    if args.variants:
        from envs.generate.variants import parse_variants

        try:
            parse_variants(args.variants)
        except ValueError as e:
            raise NcoError(f"--variants: {e}") from None
    cfg = TrainConfig(
        num_clients=args.size,
        distribution=args.distribution,
        epochs=args.epochs,
        batch_size=args.batch_size,
        train_size=args.train_size,
        val_size=args.val_size,
        num_starts=args.starts or None,
        lr=args.lr,
        matrix_lr=args.matrix_lr,
        variants=args.variants,
        moe_experts=args.experts if args.policy == "moe" else 0,
        moe_top_k=args.top_k,
        aux_weight=args.aux_weight,
        policy=policy,
        dataset=args.dataset,
        out_dir=args.out,
        init_from=args.init_from,
        resume=args.resume,
        accelerator=args.accelerator,
        devices=devices,
        num_nodes=args.nodes,
        logger=args.logger,
        seed=args.seed,
        progress_bar=not args.no_progress,
        max_time=args.max_time,
    )
    result = train(cfg)
    if result["val_cost"] is None:  # e.g. --max-time ended the run before a validation; the note says why
        print(f"trained, but {result['note']}; checkpoint {result['checkpoint'] or 'none written'}")
        return 0 if result["checkpoint"] else 1
    print(f"trained: validation cost {result['val_cost']:.4f}; checkpoint {result['checkpoint']}")
    return 0


def _expert(args, policy) -> int:
    """`nco train --method expert`: expert iteration (nco.train.expert) on the options that apply to it."""
    import torch

    from nco.threads import available_cores
    from nco.train.expert import ExpertConfig, expert_iteration

    if args.resume:
        raise NcoError("--resume is for --method reinforce: an expert run resumes from the state.pt in its --out")
    if args.variants and "," in args.variants:
        raise NcoError("--method expert trains on one source: one --variants name (e.g. VRPTW), or --distribution")
    if not args.variants and args.distribution not in ("uniform", "xlike"):
        raise NcoError(
            f"--method expert draws uniform or xlike instances, or one --variants name, not {args.distribution}"
        )
    gpu = args.accelerator in ("gpu", "cuda") or (args.accelerator == "auto" and torch.cuda.is_available())
    cfg = ExpertConfig(
        source=args.variants.lower() if args.variants else args.distribution,
        num_clients=args.size,
        minutes=args.minutes,
        out_dir=args.out,
        init_from=args.init_from,
        policy=None if args.init_from else policy,
        labels_per_round=args.labels_per_round,
        label_seconds=args.label_seconds,
        batch_size=args.batch_size,
        lr=args.lr,
        val_size=args.val_size,
        seed=args.seed,
        workers=args.workers,
        threads=available_cores(),
        device="cuda" if gpu else "cpu",
    )
    progress = None if args.no_progress else _progress
    result = expert_iteration(cfg, on_validate=progress)
    print(
        f"trained: validation cost {result['best_val_cost']:.4f} after {result['rounds']} rounds,"
        f" {result['labels']} labels, {result['cpu_minutes']:.1f} CPU-minutes; checkpoint {result['best']}"
    )
    return 0


def _progress(row: dict) -> None:
    print(
        f"round {row['round']}: {row['labels']} labels, {row['steps']} steps, {row['cpu_minutes']:.1f} CPU-minutes,"
        f" validation {row['val_cost']:.4f}",
        flush=True,
    )
