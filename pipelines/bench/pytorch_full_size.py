"""The reference at full size, once, outside CI: torchvision's ResNet-101 (random weights, batch-norm
statistics from real batch statistics, then perturbed) and the reference decoder (vocabulary 9490,
attention/embedding/decoder 512), saved by PyTorch in the legacy container exactly as the tutorial's
save_checkpoint does, with PyTorch's outputs on the fixture images in make_fixtures.py's format.

    /usr/bin/python3 pipelines/bench/pytorch_full_size.py /tmp/sat-full

Then: node dist/pipelines/bench/compare-pytorch.js --dir /tmp/sat-full (figures), and
node dist/pipelines/bench/bench-pytorch-import.js --dir /tmp/sat-full (speed against PyTorch).
Large files go to the given directory, never into git.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, 'test', 'fixtures', 'pytorch')
sys.path.insert(0, FIX)
sys.dont_write_bytecode = True
import make_fixtures as mf  # noqa: E402  (registers reference.py as the tutorial's `models`)
import reference  # noqa: E402

IMAGES = ['street.png', 'beach.png', 'grey.png', 'alpha.png']


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(101)
    gen = torch.Generator().manual_seed(101)
    t0 = time.time()
    resnet = torchvision.models.resnet101(weights=None)
    mf.calibrate_bn(resnet, torch.randn(4, 3, 256, 256, generator=gen), gen)
    encoder = reference.Encoder(resnet)
    words = ['w%d' % i for i in range(1, 9487)]
    word_map = {w: i + 1 for i, w in enumerate(words)}
    word_map['<unk>'] = len(word_map) + 1
    word_map['<start>'] = len(word_map) + 1
    word_map['<end>'] = len(word_map) + 1
    word_map['<pad>'] = 0
    assert len(word_map) == 9490
    with open(os.path.join(out, 'WORDMAP_full.json'), 'w') as f:
        json.dump(word_map, f)
    decoder = reference.DecoderWithAttention(attention_dim=512, embed_dim=512, decoder_dim=512, vocab_size=len(word_map))
    with torch.no_grad():
        # As in the CI fixtures: peakier word distributions than the tutorial's untrained init, so
        # 9490-way beam ranks are not decided by float rounding; <end> a little likelier.
        decoder.fc.weight.mul_(8)
        decoder.embedding.weight.mul_(10)
        decoder.fc.bias[word_map['<end>']] += float(os.environ.get('END_BIAS', '2'))
    encoder.eval()
    decoder.eval()
    decoder_optimizer = torch.optim.Adam(params=filter(lambda p: p.requires_grad, decoder.parameters()), lr=4e-4)
    # utils.save_checkpoint of the tutorial, legacy container (torch < 1.6 wrote no other).
    state = {'epoch': 20, 'epochs_since_improvement': 0, 'bleu-4': 0.2, 'encoder': encoder, 'decoder': decoder,
             'encoder_optimizer': None, 'decoder_optimizer': decoder_optimizer}
    path = os.path.join(out, 'BEST_checkpoint_full.pth.tar')
    torch.save(state, path, _use_new_zipfile_serialization=False)
    print('saved %s (%.0f MB) in %.1f s' % (path, os.path.getsize(path) / 1e6, time.time() - t0))

    outputs, blobs, captions = {}, [], {}

    def put(name, tensor):
        a = np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))
        outputs[name] = {'offset': sum(b.nbytes for b in blobs), 'shape': list(a.shape)}
        blobs.append(a)

    with torch.no_grad():
        for name in IMAGES:
            img, _ = mf.load_as_reference(os.path.join(FIX, name))
            feats = encoder(img.unsqueeze(0))
            put(f'{name}/features', feats[0].reshape(-1, 2048))
            ids = [word_map['<start>'], 5, 17, 300, 9000, word_map['<end>']]
            logits, alphas = reference.teacher_forced_logits(decoder, feats, ids)
            put(f'{name}/teacher_logits', logits)
            put(f'{name}/teacher_alphas', alphas)
            captions[name] = {'teacher_ids': ids}
            for k in (1, 3, 5):
                seq, al, score, finished = reference.caption_image_beam_search(encoder, decoder, img, word_map, k, 50)
                captions[name][f'k{k}_cap50'] = {'ids': seq[1:], 'score': score, 'finished': finished}
                put(f'{name}/k{k}_cap50/alphas', np.array(al[1:]).reshape(len(seq) - 1, -1))
            gap = mf.min_rank_gap(encoder, decoder, img, word_map, 2048)
            print(name, {k: (len(v['ids']), v['finished']) for k, v in captions[name].items() if isinstance(v, dict)}, 'rank gap %.2e' % gap)
    with open(os.path.join(out, 'outputs.bin'), 'wb') as f:
        for b in blobs:
            f.write(b.astype('<f4').tobytes())
    meta = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'word_map': 'WORDMAP_full.json',
            'checkpoint': 'BEST_checkpoint_full.pth.tar', 'encoder_dim': 2048, 'images': {n: 'fixture' for n in IMAGES},
            'captions': captions, 'tensors': outputs}
    with open(os.path.join(out, 'outputs.json'), 'w') as f:
        json.dump(meta, f, indent=1)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '/tmp/sat-full')
