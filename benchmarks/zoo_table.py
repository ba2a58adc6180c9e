"""Markdown table of the shipped school from the JSON training records (RESULTS.md, "Teachers").

    python benchmarks/zoo_table.py
"""

from lisq.models import get_entry, list_models, pretrained_record


def main() -> None:
    print("| model | family | params | epochs | train seconds (2 shared cores) | test top-1 (10k) |")
    print("|---|---|---|---|---|---|")
    for name in list_models():
        r = pretrained_record(name)
        if r is None:
            print(f"| {name} | {get_entry(name).family} | - | - | - | not trained |")
            continue
        print(f"| {name} | {r['family']} | {r['params']:,} | {r['epochs']} | {r['seconds']:.0f} | {100 * r['test_top1']:.2f} |")


if __name__ == "__main__":
    main()
