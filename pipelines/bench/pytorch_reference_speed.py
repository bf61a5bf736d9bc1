"""The reference's own inference path timed on this machine (called by bench-pytorch-import.ts, which
prints it beside ours): torch.load of the tutorial checkpoint, then per image as caption.py does it:
read and preprocess (PIL, 256x256 bilinear squash, /255, ImageNet normalisation), and
caption_image_beam_search (encoder + per-image beam search). PyTorch keeps its default threads.

    /usr/bin/python3 pipelines/bench/pytorch_reference_speed.py CHECKPOINT WORDMAP K RUNS IMAGE...

Prints one JSON line: per-phase seconds per image (medians over RUNS passes) and images/s.
"""
import json
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'test', 'fixtures', 'pytorch'))
sys.dont_write_bytecode = True
import make_fixtures as mf  # noqa: E402  (the tutorial's `models` module and its image reading)
import reference  # noqa: E402


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def main(checkpoint, word_map_file, k, runs, images):
    t0 = time.time()
    ck = torch.load(checkpoint, map_location='cpu')
    load_s = time.time() - t0
    encoder, decoder = ck['encoder'].eval(), ck['decoder'].eval()
    with open(word_map_file) as f:
        word_map = json.load(f)
    passes = []
    with torch.no_grad():
        for r in range(runs + 1):  # the first pass warms up
            decode = encode = search = 0.0
            steps = 0
            for path in images:
                a = time.perf_counter()
                img, _ = mf.load_as_reference(path)
                b = time.perf_counter()
                encoder(img.unsqueeze(0))
                c = time.perf_counter()
                seq, _, _, _ = reference.caption_image_beam_search(encoder, decoder, img, word_map, k, 50)
                d = time.perf_counter()
                decode += b - a
                encode += c - b
                # caption_image_beam_search encodes again itself: its time less one encode is the search.
                search += (d - c) - (c - b)
                steps += len(seq) - 1
            passes.append({'decode': decode, 'encode': encode, 'search': search, 'steps': steps})
    n = len(images)
    timed = passes[1:]
    total = median([p['decode'] + p['encode'] * 2 + p['search'] for p in timed])
    end_to_end = median([p['decode'] + p['encode'] + p['search'] for p in timed])
    print(json.dumps({
        'threads': torch.get_num_threads(), 'torch': torch.__version__, 'load_s': load_s, 'images': n,
        'decode_s_per_image': median([p['decode'] for p in timed]) / n,
        'encode_s_per_image': median([p['encode'] for p in timed]) / n,
        'search_s_per_image': median([p['search'] for p in timed]) / n,
        'steps_per_image': timed[0]['steps'] / n,
        'images_per_s': n / end_to_end,
        'images_per_s_as_written': n / total,
    }))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
