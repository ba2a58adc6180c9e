"""Seconds per BRECQ step of single blocks when the step's batch runs whole or in pieces (CPU caches).

    python benchmarks/brecq_step_pieces.py --model effnet:lite2 --dataset imagenet \
        --data results/imagenet-lite/data/lis-s0 --blocks 1,3 --pieces 16,4,1 --threads 1

Each block gets AdaRound rounding, learned activation steps and QDrop 0.5, as in BRECQ; inputs and
targets come from 16 calibration images; three steps per setting, forward + backward only (no optimizer).
Not a test: the figures depend on the machine's caches and load.
"""

import argparse
import json
import time

import torch

import lisq.quant.brecq as brecq
from lisq.data import get_dataset
from lisq.models.resolve import build_model, model_input
from lisq.quant.adaround import attach_rounding
from lisq.quant.calib import calibrate
from lisq.quant.config import QuantConfig
from lisq.quant.data import calibration_inputs
from lisq.quant.prepare import prepare_model
from lisq.quant.quantizer import set_quant_state


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", default=None)
    p.add_argument("--data", default="gaussian")
    p.add_argument("--blocks", default="1,3", help="indices into the BRECQ block list")
    p.add_argument("--pieces", default="16,4,1")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    spec = model_input(args.model, None, args.dataset, None)
    model = build_model(args.model, None, spec, dataset=args.dataset).eval()
    calib = calibration_inputs(args.data, 16, 0, spec, get_dataset(args.dataset or spec.dataset))
    config = QuantConfig(method="brecq", w_bits=4, a_bits=4, batch_size=16)
    qmodel, _ = prepare_model(model, config, calib[:1])
    calibrate(qmodel, calib, "minmax")
    set_quant_state(qmodel, True, True)
    for param in qmodel.parameters():
        param.requires_grad_(False)
    names = brecq.find_blocks(qmodel, calib[:1])
    for index in map(int, args.blocks.split(",")):
        block = qmodel.get_submodule(names[index])
        inputs = brecq.capture(qmodel, block, calib, 16, output=False)
        set_quant_state(qmodel, False, False)
        target = brecq.capture(qmodel, block, calib, 16, output=True)
        set_quant_state(qmodel, True, True)
        lisq_piece = brecq.step_piece(block, inputs, 16)
        layers = [m for m in block.modules() if isinstance(m, brecq.QUANT_LAYERS)]
        for layer in layers:
            attach_rounding(layer)
            q = layer.input_quantizer
            q.scale.requires_grad_(True)
            q.drop_prob, q.step_batch = 0.5, 16
            q.train()
        for piece in map(int, args.pieces.split(",")):
            start = time.perf_counter()
            for _ in range(args.steps):
                brecq.step_gradients(block, inputs, target, piece, None, "off", None)
            seconds = (time.perf_counter() - start) / args.steps
            print(json.dumps({"block": names[index], "input": list(inputs[0].shape[1:]), "piece": piece,
                              "lisq_piece": lisq_piece, "s_per_step": round(seconds, 3)}), flush=True)


if __name__ == "__main__":
    main()
