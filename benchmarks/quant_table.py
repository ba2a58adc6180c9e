"""Format out/quant_results.jsonl (written by quant_bench.py) as the Markdown rows of RESULTS.md."""

import json
import sys


def main(path: str = "out/quant_results.jsonl") -> None:
    print("| model | method | setting | calib data | FP top-1 | quantized top-1 | drop (pt) | seconds | peak RSS (MB) | threads | ONNX agreement / top-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for line in open(path):
        r = json.loads(line)
        onnx = f"{100 * r['onnx_agreement']:.2f} % / {r['onnx_top1']:.2f}" if "onnx_agreement" in r else ""
        model = r["model"].split("/")[-1]
        print(f"| {model} | {r['method']} | {r['setting']} | {r['data']} ({r['num_samples']}) | {r['fp_top1']:.2f} | "
              f"{r['q_top1']:.2f} | {r['drop_pt']:.2f} | {r['seconds']} | {r['peak_rss_mb']} | {r['threads']} | {onnx} |")
    print()
    for line in open(path):
        print("    " + json.loads(line)["command"])


if __name__ == "__main__":
    main(*sys.argv[1:])
