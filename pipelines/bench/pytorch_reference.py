"""PyTorch figures for bench:model at the reference sizes (14x14x2048 features, attention/embedding/
decoder 512, vocabulary 9490, batch 32): the tutorial's DecoderWithAttention ("a-PyTorch-Tutorial-to-
Image-Captioning", see ../../../shared/notes/reference-model.md) trained with teacher forcing, its
per-image beam search, and a batched greedy decoder. Random weights; <end> is suppressed so every
caption runs the full step count, as bench-model.ts does.

Optional: bench-model.ts runs it when a python3 with torch is found (CAPTIONER_TORCH_PYTHON, else
/usr/bin/python3, else python3) and prints its figures beside tfjs's. Nothing at run time needs it.

  python3 pipelines/bench/pytorch_reference.py [--threads 2] [--runs 3] [--steps 16]

Prints one JSON object per measurement, one per line: {"key", "value", "unit", "runs"}.
"""
import argparse
import json
import time

import torch
from torch import nn

GRID, ENC, ATT, EMB, DEC, VOCAB, BATCH = 196, 2048, 512, 512, 512, 9490, 32
START, END = VOCAB - 2, VOCAB - 1


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder_att = nn.Linear(ENC, ATT)
        self.decoder_att = nn.Linear(DEC, ATT)
        self.full_att = nn.Linear(ATT, 1)

    def forward(self, enc, h, enc_att=None):
        att1 = self.encoder_att(enc) if enc_att is None else enc_att
        att = self.full_att(torch.relu(att1 + self.decoder_att(h).unsqueeze(1))).squeeze(2)
        alpha = torch.softmax(att, dim=1)
        return (enc * alpha.unsqueeze(2)).sum(dim=1), alpha


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.embedding = nn.Embedding(VOCAB, EMB)
        self.dropout = nn.Dropout(0.5)
        self.lstm = nn.LSTMCell(EMB + ENC, DEC)
        self.init_h = nn.Linear(ENC, DEC)
        self.init_c = nn.Linear(ENC, DEC)
        self.f_beta = nn.Linear(DEC, ENC)
        self.fc = nn.Linear(DEC, VOCAB)
        with torch.no_grad():
            self.fc.bias[END] = -1e4

    def init_state(self, enc):
        mean = enc.mean(dim=1)
        return self.init_h(mean), self.init_c(mean)

    def step(self, enc, words, h, c, enc_att=None):
        ctx, alpha = self.attention(enc, h, enc_att)
        ctx = torch.sigmoid(self.f_beta(h)) * ctx
        h, c = self.lstm(torch.cat([self.embedding(words), ctx], dim=1), (h, c))
        return h, c, alpha

    def forward(self, enc, captions, lengths):
        """The tutorial's training forward: captions sorted by length, the batch shrinking per step."""
        lengths, order = lengths.sort(descending=True)
        enc, captions = enc[order], captions[order]
        h, c = self.init_state(enc)
        decode_lengths = (lengths - 1).tolist()
        steps = max(decode_lengths)
        preds = torch.zeros(enc.size(0), steps, VOCAB)
        alphas = torch.zeros(enc.size(0), steps, GRID)
        for t in range(steps):
            b = sum(l > t for l in decode_lengths)
            h, c, alpha = self.step(enc[:b], captions[:b, t], h[:b], c[:b])
            preds[:b, t] = self.fc(self.dropout(h))
            alphas[:b, t] = alpha
        return preds, captions[:, 1:], decode_lengths, alphas


def median(xs):
    return sorted(xs)[len(xs) // 2]


def timed(runs, fn, warm_up=True):
    if warm_up:
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def train_bench(model, runs, gen):
    opt = torch.optim.Adam(model.parameters(), lr=4e-4)
    enc = torch.rand(BATCH, GRID, ENC, generator=gen)
    lengths = torch.randint(8, 15, (BATCH,), generator=gen) + 2
    captions = torch.randint(1, VOCAB - 4, (BATCH, int(lengths.max())), generator=gen)
    captions[:, 0] = START
    model.train()

    def step():
        preds, targets, decode_lengths, alphas = model(enc, captions, lengths)
        packed_p = nn.utils.rnn.pack_padded_sequence(preds, decode_lengths, batch_first=True).data
        packed_t = nn.utils.rnn.pack_padded_sequence(targets, decode_lengths, batch_first=True).data
        loss = nn.functional.cross_entropy(packed_p, packed_t) + ((1.0 - alphas.sum(dim=1)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.grad.data.clamp_(-5, 5)
        opt.step()

    # No warm-up: PyTorch has nothing to compile, and a reference-size step takes minutes without MKL.
    return timed(runs, step, warm_up=False)


@torch.no_grad()
def beam_one(model, enc, k, steps):
    """The tutorial's caption_image_beam_search for one image, stopped after `steps` steps (it, too,
    recomputes encoder_att(enc) in every step's attention call)."""
    enc = enc.expand(k, GRID, ENC)
    prev = torch.full((k,), START, dtype=torch.long)
    seqs = prev.unsqueeze(1)
    top_scores = torch.zeros(k, 1)
    seqs_alpha = torch.ones(k, 1, 14, 14)
    h, c = model.init_state(enc)
    for step in range(steps):
        h, c, alpha = model.step(enc, prev, h, c)
        scores = top_scores.expand(-1, VOCAB) + torch.log_softmax(model.fc(h), dim=1)
        if step == 0:
            top_scores, words = scores[0].topk(k, 0)
        else:
            top_scores, words = scores.view(-1).topk(k, 0)
        rows, nxt = words // VOCAB, words % VOCAB
        seqs = torch.cat([seqs[rows], nxt.unsqueeze(1)], dim=1)
        seqs_alpha = torch.cat([seqs_alpha[rows], alpha[rows].view(-1, 1, 14, 14)], dim=1)
        h, c, enc = h[rows], c[rows], enc[rows]
        top_scores, prev = top_scores.unsqueeze(1), nxt
    return seqs[top_scores.squeeze(1).argmax()]


@torch.no_grad()
def greedy_batch(model, enc, steps):
    """Not in the reference: a batched greedy decoder that projects the annotations once."""
    prev = torch.full((enc.size(0),), START, dtype=torch.long)
    h, c = model.init_state(enc)
    enc_att = model.attention.encoder_att(enc)
    words, alphas = [], []
    for _ in range(steps):
        h, c, alpha = model.step(enc, prev, h, c, enc_att)
        prev = model.fc(h).argmax(dim=1)
        words.append(prev)
        alphas.append(alpha)
    return torch.stack(words, 1), torch.stack(alphas, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runs', type=int, default=2)
    ap.add_argument('--steps', type=int, default=16)
    ap.add_argument('--beam-images', type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    model = Decoder()
    blas = next((kv.split('=', 1)[1] for kv in torch.__config__.show().replace(',', ' ').split() if kv.startswith('BLAS_INFO=')), 'unknown')
    meta = f'torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS {blas}'

    def emit(key, value, unit, runs):
        print(json.dumps({'key': key, 'value': value, 'unit': unit, 'runs': runs, 'engine': meta}), flush=True)

    ms = train_bench(model, a.runs, gen)
    emit('train reference', BATCH / median(ms), 'examples/s', [round(x * 1000, 1) for x in ms])

    model.eval()
    feats = torch.rand(a.beam_images, GRID, ENC, generator=gen)
    ms = timed(a.runs, lambda: [beam_one(model, feats[i:i + 1], 4, a.steps) for i in range(a.beam_images)])
    emit('beam4 reference', a.beam_images / median(ms), 'images/s', [round(x * 1000, 1) for x in ms])

    feats = torch.rand(BATCH, GRID, ENC, generator=gen)
    ms = timed(a.runs, lambda: greedy_batch(model, feats, a.steps))
    emit('greedy reference', BATCH / median(ms), 'images/s', [round(x * 1000, 1) for x in ms])


if __name__ == '__main__':
    main()
