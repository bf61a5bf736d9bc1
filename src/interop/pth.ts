import { promises as fs } from 'node:fs';
import yauzl from 'yauzl';
import { isGlobal, PickleError, qualifiedName, unpickle, type PyGlobal, type Reducer } from './pickle.js';

/*
 * Reads a PyTorch file (torch.save) as data, in either container:
 * - zip (torch >= 1.6): <prefix>/data.pkl, <prefix>/data/<key> (raw little-endian storages),
 *   <prefix>/byteorder; persistent id ('storage', StorageClass, key, location, numel);
 * - legacy (torch < 1.6): pickles of the magic number, the protocol version, sys_info and the object,
 *   then the sorted list of storage keys, then per key an int64 element count and the raw bytes;
 *   persistent ids ('storage', cls, key, location, numel, view_meta) and ('module', cls, file, source).
 * Storage locations ('cpu', 'cuda:0', ...) are recorded and ignored: everything lands in memory.
 */

/** A .pth file that cannot be read; the message names the file. */
export class PthError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
    this.name = 'PthError';
  }
}

export type TorchDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGE_DTYPES: Record<string, TorchDtype> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
};
const ELEMENT_BYTES: Record<TorchDtype, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };

/** A storage: `numel` elements of `dtype`; its bytes are filled in once the container is read. */
export interface TorchStorage {
  readonly kind: 'storage';
  readonly key: string;
  readonly dtype: TorchDtype;
  readonly location: string;
  readonly numel: number;
  /** A legacy view of another storage: its first element's index there. */
  readonly viewOf?: { key: string; offset: number };
  bytes?: Uint8Array;
}

/** A tensor as torch stores it: a strided view into a storage. */
export interface TorchTensor {
  readonly kind: 'tensor';
  readonly storage: TorchStorage;
  readonly offset: number;
  readonly shape: number[];
  readonly strides: number[];
  readonly requiresGrad: boolean;
  /** Set by _rebuild_parameter (an nn.Parameter). */
  parameter?: boolean;
}

export const isTensor = (v: unknown): v is TorchTensor => typeof v === 'object' && v !== null && (v as TorchTensor).kind === 'tensor';

/** What readPth returns: the unpickled object graph (plain data) and where it came from. */
export interface PthFile {
  file: string;
  container: 'zip' | 'legacy';
  root: unknown;
}

const asInt = (v: unknown, what: string): number => {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} is not an integer`);
  return v;
};
const asInts = (v: unknown, what: string): number[] => {
  if (!Array.isArray(v)) throw new Error(`${what} is not a tuple`);
  return v.map((x, i) => asInt(x, `${what}[${i}]`));
};

function rebuildTensor(args: unknown[]): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (typeof storage !== 'object' || storage === null || (storage as TorchStorage).kind !== 'storage') throw new Error('_rebuild_tensor of something that is not a storage');
  return {
    kind: 'tensor', storage: storage as TorchStorage, offset: asInt(offset, 'tensor storage offset'),
    shape: asInts(size, 'tensor size'), strides: asInts(stride, 'tensor stride'), requiresGrad: requiresGrad === true,
  };
}

function rebuildParameter(args: unknown[]): TorchTensor {
  if (!isTensor(args[0])) throw new Error('_rebuild_parameter of something that is not a tensor');
  return { ...args[0], requiresGrad: args[1] === true, parameter: true };
}

/** The only callables a checkpoint may invoke; each builds plain data. */
const REDUCERS: ReadonlyMap<string, Reducer> = new Map<string, Reducer>([
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  ['torch._utils._rebuild_tensor', rebuildTensor],
  ['torch._utils._rebuild_parameter', rebuildParameter],
  ['torch._utils._rebuild_parameter_with_state', rebuildParameter],
  ['collections.OrderedDict', (args) => new Map(Array.isArray(args[0]) ? (args[0] as [unknown, unknown][]) : [])],
  ['collections.defaultdict', () => new Map()],
  ['builtins.set', (args) => new Set(Array.isArray(args[0]) ? args[0] : [])],
  ['builtins.frozenset', (args) => new Set(Array.isArray(args[0]) ? args[0] : [])],
  ['__builtin__.set', (args) => new Set(Array.isArray(args[0]) ? args[0] : [])],
  // Old modules pickle their THNN backend as this call; a symbol is all it needs to be.
  ['torch.nn.backends.thnn._get_thnn_function_backend', () => ({ kind: 'global', module: 'torch.nn.backends.thnn', name: 'backend' })],
  ['torch.device', (args) => String(args[0])],
  // Protocol 2 writes a bytes object as this call on its latin-1 text.
  ['_codecs.encode', (args) => {
    if (typeof args[0] !== 'string' || !/^latin-?1$/i.test(String(args[1]))) throw new Error('_codecs.encode of something other than latin-1 text');
    return Uint8Array.from(args[0], (ch) => ch.charCodeAt(0) & 0xff);
  }],
  ['copyreg._reconstructor', (args) => {
    if (!isGlobal(args[0])) throw new Error('copyreg._reconstructor of something that is not a class');
    return { kind: 'object', cls: args[0], args: [] };
  }],
  // NumPy scalars (a float metric stored as numpy.float64): dtype records, then the value's bytes.
  ['numpy.dtype', (args) => ({ kind: 'numpy-dtype', name: String(args[0]) })],
  ['numpy.core.multiarray.scalar', numpyScalar],
  ['numpy._core.multiarray.scalar', numpyScalar],
]);

function numpyScalar(args: unknown[]): number {
  const dtype = args[0] as { kind?: string; name?: string };
  const raw = args[1];
  if (dtype?.kind !== 'numpy-dtype' || !(raw instanceof Uint8Array)) throw new Error('numpy scalar without a dtype and bytes');
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtype.name) {
    case 'f8': return v.getFloat64(0, true);
    case 'f4': return v.getFloat32(0, true);
    case 'i8': return Number(v.getBigInt64(0, true));
    case 'i4': return v.getInt32(0, true);
    default: throw new Error(`numpy scalar of dtype ${String(dtype.name)}`);
  }
}

/** Storages by key, and the legacy views whose bytes come from another storage once it is read. */
interface StorageTable {
  roots: Map<string, TorchStorage>;
  views: TorchStorage[];
}

/** Gives each legacy view the bytes of its part of the storage it views. */
function fillViews(table: StorageTable): void {
  for (const v of table.views) {
    const root = table.roots.get(v.viewOf!.key)!;
    const size = ELEMENT_BYTES[v.dtype];
    const start = v.viewOf!.offset * size;
    if (!root.bytes || start + v.numel * size > root.bytes.length) throw new Error(`storage view ${v.key} reaches beyond storage ${root.key}`);
    v.bytes = root.bytes.subarray(start, start + v.numel * size);
  }
}

function storageFromPid(pid: unknown, table: StorageTable): unknown {
  const storages = table.roots;
  if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
    if (Array.isArray(pid) && pid[0] === 'module' && isGlobal(pid[1])) return pid[1];
    throw new Error(`unknown persistent id ${JSON.stringify(Array.isArray(pid) ? pid[0] : typeof pid)}`);
  }
  const [, cls, key, location, numel, viewMeta] = pid as [string, unknown, unknown, unknown, unknown, unknown];
  if (!isGlobal(cls)) throw new Error('a storage without a storage class');
  const dtype = STORAGE_DTYPES[(cls as PyGlobal).name];
  if (!dtype) throw new Error(`storage class ${qualifiedName(cls as PyGlobal)} is not a numeric storage this reader knows`);
  const rootKey = String(key);
  let root = storages.get(rootKey);
  if (!root) {
    root = { kind: 'storage', key: rootKey, dtype, location: String(location), numel: asInt(numel, 'storage size') };
    storages.set(rootKey, root);
  }
  if (Array.isArray(viewMeta)) {
    const [viewKey, offset, size] = viewMeta as [unknown, unknown, unknown];
    const view: TorchStorage = { kind: 'storage', key: String(viewKey), dtype, location: String(location), numel: asInt(size, 'view size'), viewOf: { key: rootKey, offset: asInt(offset, 'view offset') } };
    table.views.push(view);
    return view;
  }
  return root;
}

const ZIP_MAGIC = 0x04034b50;

/** Reads a .pth / .pth.tar file; every failure is one PthError naming the file. */
export async function readPth(file: string): Promise<PthFile> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new PthError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  if (bytes.length < 4) throw new PthError(file, `is ${bytes.length} bytes long: not a PyTorch file`);
  try {
    if (bytes.readUInt32LE(0) === ZIP_MAGIC) return { file, container: 'zip', root: await readZipContainer(file) };
    if (bytes[0] === 0x80) return { file, container: 'legacy', root: readLegacyContainer(bytes) };
  } catch (err) {
    if (err instanceof PthError) throw err;
    const at = err instanceof PickleError ? ` (byte ${err.offset})` : '';
    throw new PthError(file, `${(err as Error).message}${at}`, { cause: err });
  }
  throw new PthError(file, 'is neither a zip (torch >= 1.6) nor a legacy (torch < 1.6) PyTorch file');
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readLegacyContainer(bytes: Uint8Array): unknown {
  const plain = { reducers: REDUCERS };
  const magic = unpickle(bytes, 0, plain);
  if (magic.value !== LEGACY_MAGIC) throw new Error('starts with a pickle but not with PyTorch\'s magic number: a pickle of something else, not a torch.save file');
  const protocol = unpickle(bytes, magic.end, plain);
  if (protocol.value !== 1001) throw new Error(`legacy protocol ${String(protocol.value)} (this reader knows 1001)`);
  const sysInfo = unpickle(bytes, protocol.end, plain);
  const info = sysInfo.value instanceof Map ? sysInfo.value : new Map();
  if (info.get('little_endian') === false) throw new Error('was saved on a big-endian machine; only little-endian storages are read');
  const table: StorageTable = { roots: new Map(), views: [] };
  const storages = table.roots;
  const main = unpickle(bytes, sysInfo.end, { reducers: REDUCERS, persistentLoad: (pid) => storageFromPid(pid, table) });
  const keysPickle = unpickle(bytes, main.end, plain);
  if (!Array.isArray(keysPickle.value)) throw new Error('the list of storage keys is missing');
  let pos = keysPickle.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keysPickle.value as unknown[]) {
    const storage = storages.get(String(key));
    if (!storage) throw new Error(`lists storage ${String(key)} that no tensor uses`);
    if (pos + 8 > bytes.length) throw new Error(`is cut short: storage ${storage.key} should start at byte ${pos}, the file ends at ${bytes.length}`);
    const numel = Number(view.getBigInt64(pos, true));
    pos += 8;
    if (numel !== storage.numel) throw new Error(`storage ${storage.key} holds ${numel} elements, its tensors expect ${storage.numel}`);
    const length = numel * ELEMENT_BYTES[storage.dtype];
    if (pos + length > bytes.length) throw new Error(`is cut short: storage ${storage.key} needs bytes ${pos}..${pos + length}, the file ends at ${bytes.length}`);
    storage.bytes = bytes.subarray(pos, pos + length);
    pos += length;
  }
  const missing = [...storages.values()].find((s) => !s.bytes);
  if (missing) throw new Error(`is cut short or corrupt: storage ${missing.key} has no data`);
  fillViews(table);
  return main.value;
}

function readZipEntries(file: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true, strictFileNames: false }, (err, zip) => {
      if (err || !zip) return reject(new Error(`is not a readable zip (${err?.message ?? 'no archive'})`));
      const entries = new Map<string, Buffer>();
      zip.on('error', (e: Error) => reject(new Error(`is a corrupt or truncated zip (${e.message})`)));
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(new Error(`entry ${entry.fileName} cannot be read (${e?.message ?? 'no stream'})`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', (se: Error) => reject(new Error(`entry ${entry.fileName} is corrupt or truncated (${se.message})`)));
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

async function readZipContainer(file: string): Promise<unknown> {
  const entries = await readZipEntries(file);
  const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pkl) throw new Error('is a zip without data.pkl: not a torch.save file');
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && order.toString('latin1') !== 'little') throw new Error(`stores ${order.toString('latin1')}-endian data; only little-endian is read`);
  const table: StorageTable = { roots: new Map(), views: [] };
  const main = unpickle(entries.get(pkl)!, 0, { reducers: REDUCERS, persistentLoad: (pid) => storageFromPid(pid, table) });
  for (const s of table.roots.values()) {
    const data = entries.get(`${prefix}data/${s.key}`);
    if (!data) throw new Error(`lacks ${prefix}data/${s.key}, the data of one of its tensors`);
    const length = s.numel * ELEMENT_BYTES[s.dtype];
    if (data.length < length) throw new Error(`storage ${s.key} has ${data.length} bytes, its tensors need ${length}`);
    s.bytes = data.subarray(0, length);
  }
  fillViews(table);
  return main.value;
}

function storageReader(file: string, name: string, s: TorchStorage): (i: number) => number {
  const bytes = s.bytes;
  if (!bytes) throw new PthError(file, `${name}: storage ${s.key} has no data`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const readers: Record<TorchDtype, (i: number) => number> = {
    float32: (i) => v.getFloat32(i * 4, true),
    float64: (i) => v.getFloat64(i * 8, true),
    float16: (i) => halfToFloat(v.getUint16(i * 2, true)),
    bfloat16: (i) => new Float32Array(new Uint32Array([v.getUint16(i * 2, true) << 16]).buffer)[0]!,
    int64: (i) => Number(v.getBigInt64(i * 8, true)),
    int32: (i) => v.getInt32(i * 4, true),
    int16: (i) => v.getInt16(i * 2, true),
    int8: (i) => v.getInt8(i),
    uint8: (i) => v.getUint8(i),
    bool: (i) => v.getUint8(i),
  };
  return readers[s.dtype];
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const MAX_TENSOR_ELEMENTS = 2 ** 28;

/**
 * The tensor's values as a contiguous row-major Float32Array, honouring its storage offset and strides
 * (a view such as a transposed weight reads right). `name` is for the error message.
 */
export function tensorValues(file: string, name: string, t: TorchTensor): Float32Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const available = t.storage.numel;
  if (t.shape.length !== t.strides.length) throw new PthError(file, `${name}: ${t.shape.length} sizes but ${t.strides.length} strides`);
  if (t.offset < 0 || t.strides.some((x) => x < 0) || t.shape.some((x) => x < 0)) throw new PthError(file, `${name}: negative size, storage offset or stride`);
  // Zero strides could make a tiny storage claim any size: no captioning weight comes near this.
  if (numel > MAX_TENSOR_ELEMENTS) throw new PthError(file, `${name}: shape [${t.shape.join(', ')}] holds ${numel} elements, more than the ${MAX_TENSOR_ELEMENTS} this reader accepts`);
  const last = numel === 0 ? t.offset : t.offset + t.shape.reduce((acc, n, d) => acc + (n - 1) * t.strides[d]!, 0);
  if (numel > 0 && last >= available) {
    throw new PthError(file, `${name}: its view (storage offset ${t.offset}, shape [${t.shape.join(', ')}], strides [${t.strides.join(', ')}]) reaches element ${last}, beyond the ${available} elements of storage ${t.storage.key}`);
  }
  const contiguous = t.strides.every((st, d) => t.shape[d] === 1 || st === t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const bytes = t.storage.bytes;
  if (contiguous && t.storage.dtype === 'float32' && bytes) {
    // The common case, copied in one go (a ResNet-101 holds 44M such values).
    const start = t.offset * 4;
    return new Float32Array(new Uint8Array(bytes.subarray(start, start + numel * 4)).buffer);
  }
  const read = storageReader(file, name, t.storage);
  const out = new Float32Array(numel);
  const rank = t.shape.length;
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < numel; i++) {
    let at = t.offset;
    for (let d = 0; d < rank; d++) at += index[d]! * t.strides[d]!;
    out[i] = read(at);
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < t.shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}
