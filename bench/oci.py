"""What stockade-oci adds to a pass-through call, and to create.

    python -m bench.oci [--runs N]

Times `state` of a created container, `--version` and `create` through runc directly and
through stockade-oci, and prints medians and the difference. Uses the installed
stockade-oci when there is one, else an equivalent of its console script for this
checkout. Everything lives in one temporary directory and is removed at the end."""

import argparse
import contextlib
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import stockade
from stockade.images.embedded import build_rootfs


def launcher(directory: Path) -> str:
    """The installed stockade-oci, or what pip's console script would contain."""
    installed = shutil.which("stockade-oci")
    if installed:
        return installed
    path = directory / "stockade-oci"
    source = Path(stockade.__file__).resolve().parents[1]
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(source)!r})\n"
                    "from stockade.oci.main import main\nif __name__ == '__main__':\n"
                    "    sys.exit(main())\n")
    path.chmod(0o755)
    return str(path)


def median_ms(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@contextlib.contextmanager
def created_container(directory: Path) -> Iterator[tuple[str, str, Path]]:
    """A container in the created state under a private runc root: (root, id, bundle)."""
    bundle = directory / "bundle"
    bundle.mkdir(mode=0o711)
    build_rootfs(bundle / "rootfs")
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"].update(terminal=False, args=["sleep", "600"])
    (bundle / "config.json").write_text(json.dumps(config))
    root, name = str(directory / "runc"), f"bench-oci-{secrets.token_hex(3)}"
    subprocess.run(["runc", "--root", root, "create", "--bundle", str(bundle), name], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        yield root, name, bundle
    finally:
        subprocess.run(["runc", "--root", root, "delete", "--force", name], check=False)


def create_ms(binary: str, root: str, bundle: Path, runs: int) -> float:
    """create then delete; only the create is timed (it includes the hardening)."""
    times = []
    pristine = (bundle / "config.json").read_text()
    for _ in range(runs):
        (bundle / "config.json").write_text(pristine)
        name = f"bench-oci-{secrets.token_hex(3)}"
        start = time.perf_counter()
        subprocess.run([binary, "--root", root, "create", "--bundle", str(bundle), name],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        # Through the same binary: stockade-oci's delete also removes its directory.
        subprocess.run([binary, "--root", root, "delete", "--force", name], check=False)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    runc = shutil.which("runc") or "/usr/sbin/runc"
    with tempfile.TemporaryDirectory(prefix="stockade-bench-oci-") as tmp:
        directory = Path(tmp)
        directory.chmod(0o711)
        shim = launcher(directory)
        print(f"stockade-oci: {shim}")
        print(f"{'call':<22}{'runc ms':>10}{'stockade-oci ms':>18}{'added ms':>10}{'ratio':>8}")
        with created_container(directory) as (root, name, bundle):
            for label, args in (("state (created)", ["--root", root, "state", name]),
                                ("--version", ["--version"])):
                plain = median_ms([runc, *args], runs)
                ours = median_ms([shim, *args], runs)
                print(f"{label:<22}{plain:>10.2f}{ours:>18.2f}{ours - plain:>10.2f}"
                      f"{ours / plain:>8.2f}")
            policy = directory / "policy.toml"
            policy.write_text(f'log = "{directory / "oci.jsonl"}"\n')
            create_runs = max(5, runs // 20)
            plain = create_ms(runc, root, bundle, create_runs)
            with _policy_env(str(policy)):
                ours = create_ms(shim, root, bundle, create_runs)
            print(f"{'create (hardened)':<22}{plain:>10.2f}{ours:>18.2f}{ours - plain:>10.2f}"
                  f"{ours / plain:>8.2f}")


@contextlib.contextmanager
def _policy_env(path: str) -> Iterator[None]:
    import os

    before = os.environ.get("STOCKADE_OCI_POLICY")
    os.environ["STOCKADE_OCI_POLICY"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("STOCKADE_OCI_POLICY")
        else:
            os.environ["STOCKADE_OCI_POLICY"] = before


if __name__ == "__main__":
    main()
