"""``bgs export``: a fine-tuned run as a standard peft adapter (or merged model) with its
projection head and a model card; optionally uploaded to the Hugging Face Hub."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from bgs.commands.options import err, out


def export_command(
    run: Path = typer.Argument(..., metavar="RUN", help="Run directory of `bgs train --out RUN` "
                                                        "(or one of its checkpoint folders)."),
    out_dir: Path = typer.Argument(..., metavar="OUT", help="New folder to write (never overwritten)."),
    merge: bool = typer.Option(False, "--merge", help="Merge the adapter into the backbone and write "
                                                      "the whole model (save_pretrained layout)."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", metavar="REPO",
                                              help="Then upload OUT to this Hub repository "
                                                   "(user/name) with huggingface_hub."),
    private: bool = typer.Option(False, "--private", help="With --push-to-hub: create the repository private."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (for merging)."),
):
    """Export a tuned model: peft adapter (or --merge), head and model card, loadable without bgs."""
    from bgs.train.export import export_run
    from bgs.train.export import push_to_hub as upload

    command = shlex.join(["bgs", "export", str(run), str(out_dir)] + (["--merge"] if merge else []))
    with err.status(f"exporting {run} ..."):
        folder = export_run(run, out_dir, merge=merge, command=command, device=device)
    files = sorted(p.name for p in folder.iterdir())
    out.print(f"wrote {folder}: {', '.join(files)}")
    if push_to_hub:
        with err.status(f"uploading {folder} to {push_to_hub} ..."):
            url = upload(folder, push_to_hub, private=private)
        out.print(f"uploaded to {push_to_hub}: {url}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
