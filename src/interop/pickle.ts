/**
 * A Python pickle reader that treats the stream as data: a GLOBAL becomes a symbol (PyGlobal), an
 * object built with NEWOBJ/BUILD becomes a plain record of its class, arguments and state, and REDUCE
 * calls only the reducers the caller lists (anything else, os.system included, is refused). Nothing
 * from the file is ever executed, so an untrusted checkpoint can do no harm.
 *
 * Dicts are Maps (keys may be any value, and a key such as "__proto__" stays a key); tuples and lists
 * are arrays; ints beyond 2^53 are BigInts.
 */

/** A module-level name the pickle refers to (a class or function), never resolved to code. */
export interface PyGlobal {
  readonly kind: 'global';
  readonly module: string;
  readonly name: string;
}

/** An instance created by NEWOBJ (cls.__new__(cls, *args)) and filled by BUILD (its __dict__). */
export interface PyObject {
  readonly kind: 'object';
  readonly cls: PyGlobal;
  readonly args: unknown[];
  /** The BUILD state: usually the instance's __dict__ as a Map. */
  state?: unknown;
}

export const isGlobal = (v: unknown): v is PyGlobal => typeof v === 'object' && v !== null && (v as PyGlobal).kind === 'global';
export const isObject = (v: unknown): v is PyObject => typeof v === 'object' && v !== null && (v as PyObject).kind === 'object';
export const qualifiedName = (g: PyGlobal): string => `${g.module}.${g.name}`;

/** What the stream may call: REDUCE on a global is looked up here by "module.name". */
export type Reducer = (args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** Reducers by qualified name; any other callable in REDUCE is an error. */
  reducers: ReadonlyMap<string, Reducer>;
  /** Resolves BINPERSID/PERSID ids (torch's storages); absent: persistent ids are an error. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** A malformed or refused pickle; `offset` is the byte where reading stopped. */
export class PickleError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'PickleError';
  }
}

/** Reads one pickle starting at `start`; returns the value and the offset just past its STOP. */
export function unpickle(bytes: Uint8Array, start: number, opts: UnpickleOptions): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const fail = (message: string): never => {
    throw new PickleError(message, pos);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`the pickle is cut short (needs ${n} more bytes at offset ${pos}, the data ends at ${bytes.length})`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`a length of ${v} bytes exceeds the data`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const text = (n: number, encoding: 'utf-8' | 'latin1') => new TextDecoder(encoding).decode(take(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('the pickle is cut short (a text line has no end)');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => (stack.length === 0 ? fail('the pickle pops an empty stack') : stack.pop());
  const top = () => (stack.length === 0 ? fail('the pickle reads an empty stack') : stack[stack.length - 1]);
  const popMark = () => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) fail('the pickle closes a mark it never opened');
    stack = prev!;
    return items;
  };
  const signedLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const reduce = (fn: unknown, args: unknown): unknown => {
    if (!isGlobal(fn)) fail('REDUCE of something that is not a named callable');
    const name = qualifiedName(fn as PyGlobal);
    const reducer = opts.reducers.get(name);
    if (!reducer) fail(`it calls ${name}, which a checkpoint has no reason to call; refused (nothing was executed)`);
    if (!Array.isArray(args)) fail(`REDUCE of ${name} without an argument tuple`);
    return reducer!(args as unknown[]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unknown pickle protocol');
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x70: // PUT
        memo.set(Number.parseInt(line(), 10), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x67 ? Number.parseInt(line(), 10) : op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`the pickle refers to memo ${key}, which was never stored`);
        stack.push(memo.get(key));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        // INT (text; "01"/"00" are True/False in protocol 0)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: {
        // LONG (text)
        const v = BigInt(line().replace(/L$/, ''));
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLong(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(signedLong(take(u32())));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(line()));
        break;
      case 0x53: // STRING (text, quoted)
        stack.push(line().slice(1, -1));
        break;
      case 0x54: // BINSTRING
        stack.push(text(u32(), 'latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(text(u8(), 'latin1'));
        break;
      case 0x56: // UNICODE (raw-unicode-escape)
        stack.push(line());
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32(), 'utf-8'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8(), 'utf-8'));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64(), 'utf-8'));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: {
        // TUPLE (popMark replaces `stack`: read it first)
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail('APPEND to something that is not a list');
        (list as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('APPENDS to something that is not a list');
        for (const v of items) (list as unknown[]).push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail('ADDITEMS to something that is not a set');
        for (const v of items) (set as Set<unknown>).add(v);
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = new Set(popMark());
        stack.push(items);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push({ kind: 'global', module, name } satisfies PyGlobal);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL without two names');
        stack.push({ kind: 'global', module: module as string, name: name as string } satisfies PyGlobal);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!isGlobal(cls) || !Array.isArray(args)) fail('NEWOBJ without a class and an argument tuple');
        stack.push({ kind: 'object', cls: cls as PyGlobal, args: args as unknown[] } satisfies PyObject);
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop();
        const args = pop();
        const cls = pop();
        if (!isGlobal(cls) || !Array.isArray(args)) fail('NEWOBJ_EX without a class and an argument tuple');
        stack.push({ kind: 'object', cls: cls as PyGlobal, args: args as unknown[] } satisfies PyObject);
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (isObject(obj)) obj.state = state;
        // BUILD on a dict (an OrderedDict's attributes such as a state_dict's _metadata) or on a
        // reduced value carries nothing the importer reads: kept as data nowhere, harmlessly.
        else if (!(obj instanceof Map) && (typeof obj !== 'object' || obj === null)) fail('BUILD on a value that cannot take state');
        break;
      }
      case 0x51: // BINPERSID
      case 0x50: {
        // PERSID
        const pid = op === 0x51 ? pop() : line();
        if (!opts.persistentLoad) fail('the pickle refers to external data (a persistent id) where none is expected');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`unknown or unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${pos - 1}`);
    }
    if (op === 0x28) continue;
    if (marks.length > 10_000 || stack.length > 10_000_000) fail('the pickle nests too deeply');
  }
}

/** The value under `key` of a dict (Map) read from a pickle, or undefined. */
export function dictGet(d: unknown, key: string): unknown {
  return d instanceof Map ? d.get(key) : undefined;
}
