"""Markdown table of a dataset's shipped school from the JSON training records (RESULTS.md, "Teachers").

    python benchmarks/zoo_table.py                    # Fashion-MNIST
    python benchmarks/zoo_table.py --dataset cifar10
"""

import argparse

from lisq.models import list_pretrained, pretrained_record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fmnist")
    args = p.parse_args()
    print("| model | family | params | epochs | train seconds | test top-1 (10k) |")
    print("|---|---|---|---|---|---|")
    for name in list_pretrained(args.dataset):
        r = pretrained_record(name)
        epochs = r.get("epochs", "-")
        seconds = f"{r['seconds']:.0f}" if "seconds" in r else "imported"
        before = (r.get("init") or {}).get("record")
        if before:  # a warm restart (`lisq zoo train --init`): the epochs and seconds before it, then after
            epochs = f"{before.get('epochs', '?')} + {epochs} (warm restart)"
            seconds = f"{before.get('seconds', 0):.0f} + {r['seconds']:.0f} = {r['seconds_total']:.0f}"
        print(f"| {name} | {r['family']} | {r['params']:,} | {epochs} | {seconds} | {100 * r['test_top1']:.2f} |")


if __name__ == "__main__":
    main()
