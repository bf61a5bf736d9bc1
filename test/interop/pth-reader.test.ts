import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpickle } from '../../src/interop/pickle.js';
import { isTensor, PthError, readPth, tensorValues, type TorchTensor } from '../../src/interop/pth.js';
import { className, isModule, moduleAttr, modulesByPath, stateDict } from '../../src/interop/torch-module.js';

const FIX = path.resolve('test/fixtures/pytorch');
const fixture = (name: string) => path.join(FIX, name);
let tmp: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'pth-reader-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Writes the first `fraction` of a fixture to a temporary file. */
async function cutShort(name: string, fraction: number): Promise<string> {
  const bytes = await fs.readFile(fixture(name));
  const out = path.join(tmp, `cut-${fraction}-${name}`);
  await fs.writeFile(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}

async function refusal(file: string): Promise<string> {
  const err = await readPth(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PthError);
  const message = (err as Error).message;
  expect(message.startsWith(`${file}: `)).toBe(true);
  expect(message.split('\n')).toHaveLength(1);
  return message;
}

describe('readPth on files torch.save wrote', () => {
  it.each([
    ['checkpoint_tiny_legacy.pth.tar', 'legacy'],
    ['checkpoint_tiny_zip.pth.tar', 'zip'],
  ])('reads the tutorial checkpoint %s (%s container) as data: whole modules, their hyper-parameters and tensors', async (name, container) => {
    const pth = await readPth(fixture(name));
    expect(pth.container).toBe(container);
    const root = pth.root as Map<string, unknown>;
    expect([...root.keys()]).toEqual(['epoch', 'epochs_since_improvement', 'bleu-4', 'encoder', 'decoder', 'encoder_optimizer', 'decoder_optimizer']);
    expect(root.get('epoch')).toBe(3);
    expect(root.get('bleu-4')).toBeCloseTo(0.2513, 12); // a numpy.float64, read from its bytes
    const encoder = root.get('encoder');
    const decoder = root.get('decoder');
    expect(isModule(encoder) && className(encoder)).toBe('models.Encoder');
    expect(isModule(decoder) && className(decoder)).toBe('models.DecoderWithAttention');
    const mods = modulesByPath(encoder as never);
    expect(className(mods.get('resnet.0')!)).toBe('torch.nn.modules.conv.Conv2d');
    expect(moduleAttr(mods.get('resnet.0')!, 'padding')).toEqual([3, 3]);
    expect(moduleAttr(mods.get('resnet.1')!, 'eps')).toBe(1e-5);
    expect(className(mods.get('resnet.4.0')!)).toBe('torchvision.models.resnet.Bottleneck');
    const dec = stateDict(decoder as never);
    expect(dec.get('decode_step.weight_ih')!.shape).toEqual([80, 144]);
    expect(dec.get('fc.weight')!.shape).toEqual([34, 20]);
    const enc = stateDict(encoder as never);
    expect(enc.get('resnet.1.num_batches_tracked')!.storage.dtype).toBe('int64');
    const opt = root.get('decoder_optimizer');
    expect(opt && className(opt as never)).toBe('torch.optim.adam.Adam');
  });

  it('gives identical tensors from both containers, a plain state_dict and a CUDA-saved file', async () => {
    const legacy = (await readPth(fixture('checkpoint_tiny_legacy.pth.tar'))).root as Map<string, unknown>;
    const zip = (await readPth(fixture('checkpoint_tiny_zip.pth.tar'))).root as Map<string, unknown>;
    const plain = (await readPth(fixture('state_dict_tiny.pth'))).root as Map<string, TorchTensor>;
    const cuda = (await readPth(fixture('checkpoint_descendant_cuda.pth.tar'))).root as Map<string, unknown>;
    const a = stateDict(legacy.get('decoder') as never);
    const b = stateDict(zip.get('decoder') as never);
    const d = stateDict(cuda.get('decoder') as never);
    expect(d.get('fc.weight')!.storage.location).toBe('cuda:0');
    for (const [key, t] of a) {
      const want = tensorValues('legacy', key, t);
      expect(tensorValues('zip', key, b.get(key)!)).toEqual(want);
      expect(tensorValues('plain', key, plain.get(`decoder.${key}`)!)).toEqual(want);
      expect(tensorValues('cuda', key, d.get(key)!)).toEqual(want);
    }
  });

  it('honours a view: storage offset and strides', () => {
    const storage = { kind: 'storage' as const, key: '0', dtype: 'float32' as const, location: 'cpu', numel: 8, bytes: new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer) };
    // rows of a [2, 3] transposed view starting at element 1: [[1, 4], [2, 5], [3, 6]]
    const t: TorchTensor = { kind: 'tensor', storage, offset: 1, shape: [3, 2], strides: [1, 3], requiresGrad: false };
    expect([...tensorValues('view', 't', t)]).toEqual([1, 4, 2, 5, 3, 6]);
    expect(() => tensorValues('view', 't', { ...t, offset: 3 })).toThrow(/reaches element 8, beyond the 8 elements/);
    expect(() => tensorValues('view', 't', { ...t, shape: [-1, 2] })).toThrow(/negative size/);
    // A zero stride lets 8 stored values claim 2^30 elements: refused before any allocation.
    expect(() => tensorValues('view', 't', { ...t, shape: [2 ** 30], strides: [0] })).toThrow(/more than the 268435456 this reader accepts/);
  });

  it('reads pickles as data: dict keys stay keys, ints beyond 32 bits keep their sign', () => {
    // {'__proto__': -2**40} in protocol 2
    const bytes = new Uint8Array([0x80, 0x02, 0x7d, 0x58, 9, 0, 0, 0, ...new TextEncoder().encode('__proto__'), 0x8a, 6, 0, 0, 0, 0, 0, 0xff, 0x73, 0x2e]);
    const { value } = unpickle(bytes, 0, { reducers: new Map() });
    expect(value).toBeInstanceOf(Map);
    expect((value as Map<string, unknown>).get('__proto__')).toBe(-(2 ** 40));
    expect(Object.getPrototypeOf(value)).toBe(Map.prototype);
  });
});

describe('readPth refuses hostile and broken files with one line naming the file', () => {
  it('a pickle that calls os.system (raw and inside a zip): refused, nothing executed', async () => {
    for (const name of ['hostile/os_system.pth', 'hostile/os_system_zip.pth']) {
      const message = await refusal(fixture(name));
      expect(message).toMatch(/calls os\.system.*refused/);
    }
  });

  it('a truncated zip', async () => {
    expect(await refusal(await cutShort('checkpoint_tiny_zip.pth.tar', 0.6))).toMatch(/zip/);
  });

  it('a legacy file cut short, in its storages and in its pickle', async () => {
    expect(await refusal(await cutShort('checkpoint_tiny_legacy.pth.tar', 0.9))).toMatch(/cut short/);
    expect(await refusal(await cutShort('checkpoint_tiny_legacy.pth.tar', 0.05))).toMatch(/cut short/);
  });

  it('a storage offset beyond the data', async () => {
    const file = fixture('hostile/offset_beyond.pth');
    const root = (await readPth(file)).root as Map<string, unknown>;
    const w = root.get('w');
    expect(isTensor(w)).toBe(true);
    expect(() => tensorValues(file, 'w', w as TorchTensor)).toThrow(PthError);
    expect(() => tensorValues(file, 'w', w as TorchTensor)).toThrow(/storage offset 200.*beyond the 10 elements/);
  });

  it('a random zip, a pickle of something else, an empty file, a text file', async () => {
    expect(await refusal(fixture('hostile/random.zip'))).toMatch(/without data\.pkl/);
    expect(await refusal(fixture('hostile/not_torch.pkl'))).toMatch(/not a torch\.save file/);
    const empty = path.join(tmp, 'empty.pth');
    await fs.writeFile(empty, '');
    expect(await refusal(empty)).toMatch(/not a PyTorch file/);
    const text = path.join(tmp, 'text.pth');
    await fs.writeFile(text, 'hello, this is not a model');
    expect(await refusal(text)).toMatch(/neither a zip/);
    expect(await refusal(path.join(tmp, 'missing.pth'))).toMatch(/cannot be read \(ENOENT\)/);
  });
});
