"""Convert Kaggle's Intel Image Classification folder into the homework's npz format.

    python tools/intel_folder_to_npz.py --input intel-image-classification --output intel_48.npz

Reads ``seg_train/<class>/*.jpg`` (or the doubled ``seg_train/seg_train/<class>``)
and optional ``seg_test/<class>``, decodes and resizes them to 48x48 with
`keras_hw2.cnn.images` (the pixels every other path gets), splits a stratified,
seeded validation set off seg_train, and writes ``train_images``, ``train_labels``,
``val_images``, ``val_labels`` (and ``test_*`` when seg_test exists): uint8
``(N, 48, 48, 3)`` images and int64 ``(N,)`` labels in the order buildings,
forest, glacier, mountain, sea, street. An undecodable image is an error naming it.
"""
import argparse

from keras_hw2 import cli
from keras_hw2.errors import InputError


def main(argv=None) -> int:
    parser = cli.ArgumentParser(prog="python tools/intel_folder_to_npz.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="folder holding seg_train/ (and optionally seg_test/)")
    parser.add_argument("--output", required=True, help="the .npz file to write")
    parser.add_argument("--val-fraction", type=cli.number("--val-fraction", 0, 1, low_open=True, high_open=True),
                        default=0.1, help="validation share of seg_train (default 0.1)")
    cli.add_seed_argument(parser, "seed of the validation split")
    cli.add_follow_links_argument(parser)
    args = parser.parse_args(argv)
    if not args.output.endswith(".npz"):
        raise InputError(f"{args.output}: the output file name must end in .npz")
    cli.start_tensorflow()
    from keras_hw2.cnn.data import load_folder, save_npz

    data = load_folder(args.input, seed=args.seed, val_fraction=args.val_fraction, follow_links=args.follow_links)
    save_npz(data, args.output)
    print(f"{data.describe()} → {args.output}")
    return 0


if __name__ == "__main__":
    cli.entry_point(main)
