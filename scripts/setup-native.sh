#!/usr/bin/env bash
# Installs the native TensorFlow backend (@tensorflow/tfjs-node, or tfjs-node-gpu with --gpu) from
# registry packages alone: the TensorFlow C API comes from the PyPI wheel, the binding is compiled
# here. Used where tfjs-node's own install (a download from storage.googleapis.com) cannot run.
# Idempotent: a backend that already loads (e.g. from tfjs-node's own install) is left alone; the wheel and the staged libraries are
# cached outside node_modules, so a rerun after `npm ci` only links and compiles.
#
#   scripts/setup-native.sh [--gpu] [--with-cuda-wheels] [--force]
#
# Exits 0 when the backend loads, 1 with one line naming what is missing otherwise.
# Why the pins: TF 2.16.2's C API passes tfjs-core's tests (2.17+ rounds int32 to zero), and it is
# the first wheel that ships libtensorflow_cc.so.2 without a libpython dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

TF_VERSION=2.16.2
TFJS_NODE_VERSION=4.22.0
PY_TAG=3.11
PLATFORM_TAG=manylinux2014_x86_64
CACHE="${CAPTIONER_NATIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/captioner-native}"

gpu=0 cuda_wheels=0 force=0
for arg in "$@"; do
  case "$arg" in
    --gpu) gpu=1 ;;
    --with-cuda-wheels) cuda_wheels=1 ;;
    --force) force=1 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-native: unknown option '$arg' (use --gpu, --with-cuda-wheels, --force)" >&2; exit 2 ;;
  esac
done
if [ "$gpu" = 1 ]; then
  pkg=@tensorflow/tfjs-node-gpu wheel=tensorflow
else
  pkg=@tensorflow/tfjs-node wheel=tensorflow-cpu
fi
pkgdir="node_modules/$pkg"
started=$(date +%s)

fail() { echo "setup-native: $*" >&2; exit 1; }
say() { echo "setup-native: $*"; }

# Loads the package the way the project does and prints "TF <version>", or fails.
probe() {
  node --input-type=module -e "
    const m = await import('$pkg');
    await m.setBackend('tensorflow');
    console.log('TF ' + m.backend().binding.TF_Version);
  " 2>/dev/null | tail -n 1
}

[ -d node_modules ] || fail "node_modules is missing; run 'npm ci' first"
if [ "$force" = 0 ] && [ -f "$pkgdir/package.json" ] && version=$(probe) && [ -n "$version" ]; then
  say "$pkg already loads ($version); nothing to do (--force rebuilds)"
  exit 0
fi

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
  fail "building from the wheel is set up for Linux x86_64 only, not $(uname -s)-$(uname -m)"

# Prerequisites, each with one line naming what is missing.
python=""
for candidate in python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || fail "python3 with pip is required to fetch the TensorFlow wheel (install python3-pip)"
command -v c++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 ||
  fail "a C++ toolchain (c++ and make) is required to compile the binding (install build-essential)"
node_prefix=$(node -p 'require("node:path").resolve(process.execPath, "..", "..")')
[ -f "$node_prefix/include/node/node_api.h" ] ||
  fail "node headers not found at $node_prefix/include/node (install the nodejs headers, e.g. libnode-dev, or a node from nodejs.org)"

# The package itself: npm may have dropped it (an optional dependency whose download failed).
if [ ! -f "$pkgdir/binding.gyp" ]; then
  say "installing $pkg@$TFJS_NODE_VERSION without its download script"
  npm install --no-save --ignore-scripts --no-audit --no-fund "$pkg@$TFJS_NODE_VERSION" >/dev/null ||
    fail "npm could not install $pkg@$TFJS_NODE_VERSION"
fi

# The wheel, downloaded once.
wheels="$CACHE/wheels"
mkdir -p "$wheels"
wheel_glob="${wheel//-/_}-$TF_VERSION-*.whl"
wheel_file=$(find "$wheels" -maxdepth 1 -name "$wheel_glob" | head -n 1)
if [ -z "$wheel_file" ]; then
  say "downloading $wheel==$TF_VERSION from PyPI (about $([ "$gpu" = 1 ] && echo 590 || echo 215) MB)"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PY_TAG" \
    --platform "$PLATFORM_TAG" --dest "$wheels" "$wheel==$TF_VERSION" ||
    fail "pip download $wheel==$TF_VERSION failed (is PyPI reachable?)"
  wheel_file=$(find "$wheels" -maxdepth 1 -name "$wheel_glob" | head -n 1)
fi

# The libraries and headers tfjs-node's binding.gyp expects, staged once per wheel.
staged="$CACHE/staged/$wheel-$TF_VERSION"
if [ ! -f "$staged/.complete" ]; then
  say "staging the C API from $(basename "$wheel_file")"
  rm -rf "$staged" && mkdir -p "$staged/lib" "$staged/include"
  "$python" - "$wheel_file" "$staged" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
headers = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tsl/c/', 'tensorflow/include/xla/tsl/c/',
           'tensorflow/include/tensorflow/core/platform/ctstring', 'tensorflow/include/tsl/platform/ctstring')
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith('/'):
            continue
        if name in libs:
            target = os.path.join(out, 'lib', os.path.basename(name))
        elif name.startswith(headers):
            target = os.path.join(out, 'include', name[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, 'wb') as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
  [ -f "$staged/lib/libtensorflow_cc.so.2" ] || fail "$(basename "$wheel_file") has no tensorflow/libtensorflow_cc.so.2"
  # Debug symbols are ~140 MB of the 630 MB; the binding needs only the dynamic symbol table.
  if command -v strip >/dev/null 2>&1; then strip --strip-unneeded "$staged"/lib/*.so.2; fi
  # binding.gyp links -ltensorflow; install.js skips its download when libtensorflow.so.2.9.1 exists.
  (cd "$staged/lib" && for n in libtensorflow.so libtensorflow.so.2 libtensorflow.so.2.9.1; do ln -sf libtensorflow_cc.so.2 "$n"; done &&
    ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so)
  touch "$staged/.complete"
fi

# Optional CUDA runtime for --gpu: the wheel dlopens CUDA from $ORIGIN/../nvidia/*/lib, i.e. from
# deps/nvidia next to deps/lib. Without it (or without a driver) TensorFlow runs on the CPU.
nvidia_dir="$CACHE/staged/nvidia-$TF_VERSION"
if [ "$gpu" = 1 ] && [ "$cuda_wheels" = 1 ] && [ ! -f "$nvidia_dir/.complete" ]; then
  say "downloading the nvidia-* wheels of tensorflow[and-cuda]==$TF_VERSION (several GB)"
  cuda_wheels_dir="$CACHE/wheels/nvidia-$TF_VERSION"
  mkdir -p "$cuda_wheels_dir"
  reqs=$("$python" - "$wheel_file" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
    for line in z.read(meta).decode().splitlines():
        if line.startswith('Requires-Dist: nvidia-') and 'and-cuda' in line:
            print(line.split(' ', 1)[1].split(';')[0].replace(' ', ''))
PY
)
  # shellcheck disable=SC2086
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PY_TAG" \
    --platform "$PLATFORM_TAG" --dest "$cuda_wheels_dir" $reqs || fail "pip download of the nvidia-* wheels failed"
  rm -rf "$nvidia_dir" && mkdir -p "$nvidia_dir"
  for w in "$cuda_wheels_dir"/nvidia_*.whl; do
    "$python" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("nvidia/")])' "$w" "$nvidia_dir"
  done
  touch "$nvidia_dir/.complete"
fi

# Into the package: hard links when the cache shares the file system (no copy of 490 MB), else copies.
say "linking the staged C API into $pkgdir/deps"
rm -rf "$pkgdir/deps"
mkdir -p "$pkgdir/deps"
cp -al "$staged/lib" "$staged/include" "$pkgdir/deps/" 2>/dev/null ||
  { rm -rf "$pkgdir/deps" && mkdir -p "$pkgdir/deps" && cp -a "$staged/lib" "$staged/include" "$pkgdir/deps/"; }
if [ "$gpu" = 1 ] && [ -f "$nvidia_dir/.complete" ]; then
  cp -al "$nvidia_dir/nvidia" "$pkgdir/deps/" 2>/dev/null || cp -a "$nvidia_dir/nvidia" "$pkgdir/deps/"
fi

# Compile the binding. node-pre-gyp places it where the package's loader looks (lib/napi-v<N>);
# `install` builds only the N-API version this node loads (`rebuild` would build all six the package
# lists); --build-from-source skips the prebuilt-addon download; --nodedir uses the running node's
# headers instead of downloading them. npm 11 does not run a dependency's install script unless allowed,
# so the build is invoked directly rather than through `npm rebuild`.
say "compiling the binding against TensorFlow $TF_VERSION (node headers from $node_prefix)"
pre_gyp=$(node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: [require('node:path').resolve('$pkgdir')] })") ||
  fail "@mapbox/node-pre-gyp (a dependency of $pkg) is missing; rerun 'npm ci'"
node_gyp=$(node -p "require.resolve('node-gyp/bin/node-gyp.js', { paths: [require('node:path').dirname(require('node:fs').realpathSync(process.env.npm_execpath || '$(command -v npm)')) + '/..'] })" 2>/dev/null || true)
log="$CACHE/build-${pkg##*/}.log"
if ! (cd "$pkgdir" && npm_config_node_gyp="${npm_config_node_gyp:-$node_gyp}" \
  node "$pre_gyp" install --build-from-source --nodedir="$node_prefix" >"$log" 2>&1); then
  tail -n 20 "$log" >&2
  fail "compiling $pkg failed (full log: $log)"
fi

version=$(probe) && [ -n "$version" ] || fail "$pkg was built but does not load; see $log"
say "$pkg ready ($version) in $(( $(date +%s) - started )) s"
