"""`fcn-graph eval`: score a trained run, or a released Caffe FCN model, on a dataset split."""
import json
import os

from fcn_graph import crf
from fcn_graph.data import parse_options
from fcn_graph.errors import OutputExistsError, UsageError
from fcn_graph.evaluation import evaluate_run, evaluate_weights
from fcn_graph.fcn import VARIANTS
from fcn_graph.commands.infer import (add_inference_arguments, inference_options,
                                     measured_memory, memory_line, print_precision_note)
from fcn_graph.commands.weights import add_weight_source_arguments, weight_source_options
from fcn_graph.rundir import describe_checkpoint, load_record
from fcn_graph.scoring import format_table, json_ready


def register(subparsers):
    parser = subparsers.add_parser(
        "eval", help="score a network on a dataset split (pixel acc, mean acc, mean IU, f.w. IU)",
        description="Accumulate one confusion matrix over a whole split (native size, batch 1) "
                    "and print per-class IoU, accuracy and F1 with the four reference scores "
                    "and mean F1; on KITTI road also the road benchmark's MaxF, AP, precision "
                    "and recall.")
    network = parser.add_mutually_exclusive_group(required=True)
    network.add_argument("--checkpoint", help="run directory or checkpoint prefix")
    network.add_argument("--weights", help="released FCN model file (e.g. fcn8s-heavy-pascal."
                                           "caffemodel), evaluated without a run directory")
    parser.add_argument("--model", choices=sorted(VARIANTS),
                        help="FCN variant of the --weights file")
    add_weight_source_arguments(parser)
    parser.add_argument("--dataset", help="dataset name (default: the run's; required with "
                                          "--weights)")
    parser.add_argument("--data-dir", help="dataset root (default: the run's)")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                        help="source-specific dataset option, repeatable")
    parser.add_argument("--split", default="val")
    parser.add_argument("--max-images", type=int, help="evaluate only the first N images")
    parser.add_argument("--crf", action="store_true",
                        help="also report scores after dense-CRF refinement (needs pydensecrf2)")
    crf.add_arguments(parser)
    parser.add_argument("--json", metavar="OUT", help="write the scores to this JSON file")
    add_inference_arguments(parser, "tiles per run with --tile (default 1)")
    parser.set_defaults(func=run)


def run(args):
    if args.json and os.path.isdir(args.json):
        raise OutputExistsError(f"--json {args.json} is a directory; name a file to write, "
                                f"e.g. {os.path.join(args.json, 'scores.json')}")
    common = dict(data_dir=args.data_dir, split=args.split, crf=crf.chosen_options(args),
                  max_images=args.max_images, dataset_options=parse_options(args.dataset_option),
                  options=inference_options(args))
    if args.weights and (not args.model or not args.dataset):
        raise UsageError("eval --weights needs --model (the file's FCN variant) and --dataset")
    # A released model file computes in float32 unless told otherwise; a run, as it trained.
    print_precision_note(common["options"].precision or (
        "float32" if args.weights else load_record(args.checkpoint).model.precision))
    with measured_memory() as memory:
        if args.weights:
            result = evaluate_weights(args.weights, args.model, args.dataset,
                                      weight_options=weight_source_options(args), **common)
        else:
            result = evaluate_run(args.checkpoint, dataset=args.dataset, **common)
    if not args.weights:
        print(f"checkpoint: {describe_checkpoint(result['checkpoint'])}")
    print(f"{result['dataset']} {result['split']}: {result['num_images']} images "
          f"({result['inference']})")
    print(format_table(result, result["class_names"]))
    if "crf_scores" in result:
        print("\nwith dense-CRF refinement:")
        print(format_table(result["crf_scores"], result["class_names"]))
    print(memory_line(memory))
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(json_ready(result), f, indent=2)
        print(f"scores written to {args.json}")
    return 0
