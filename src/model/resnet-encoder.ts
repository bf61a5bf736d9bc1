import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPoolToGrid } from './adaptive-pool.js';
import type { NamedVariable } from './named-variable.js';
import type { EncoderConfig } from './types.js';

/**
 * torchvision's ResNet (v1.5: a Bottleneck's stride is on its 3x3 conv) without its pool and fc, as
 * the reference's Encoder uses it, then adaptive average pooling to the attention grid exactly as
 * PyTorch computes it (adaptive-pool.ts; a 256x256 input gives an 8x8 map that is up-sampled to 14x14).
 * Weights are named by their torchvision keys (conv1.weight, layer1.0.bn1.running_mean, ...), stored
 * in tfjs layout (conv kernels [kh, kw, in, out]); src/interop/resnet-weights.ts fills them from a
 * .pth file.
 */
export type ResnetOptions = Omit<Extract<EncoderConfig, { kind: 'resnet' }>, 'kind'>;

/** Block type and stage sizes of torchvision's standard depths. */
export const RESNET_DEPTHS: Record<number, Pick<ResnetOptions, 'block' | 'layers'>> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

export const DEFAULT_RESNET_WIDTHS = [64, 128, 256, 512];

const expansion = (o: Pick<ResnetOptions, 'block'>) => (o.block === 'bottleneck' ? 4 : 1);

/** The annotation width (channels of layer4's output). */
export function resnetOutputDim(o: Pick<ResnetOptions, 'block' | 'widths'>): number {
  return (o.widths ?? DEFAULT_RESNET_WIDTHS)[3]! * expansion(o);
}

interface ConvBn {
  /** [k, k, in, out] */
  kernel: tf.Variable;
  gamma: tf.Variable;
  beta: tf.Variable;
  mean: tf.Variable;
  variance: tf.Variable;
  stride: number;
  pad: number;
}

interface Block {
  convs: ConvBn[];
  downsample?: ConvBn;
}

/**
 * [B, H, W, C] zero-padded by `p` on both sides of H and W: PyTorch's symmetric padding. Done as an
 * op of its own because tfjs-node's conv2d and maxPool accept only 'valid' and 'same', and 'same'
 * pads a stride-2 conv asymmetrically.
 */
function padSymmetric(x: tf.Tensor4D, p: number): tf.Tensor4D {
  return p === 0 ? x : tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
}

/** One conv + frozen-statistics BN (+ ReLU), with PyTorch's symmetric zero padding. */
function convBn(x: tf.Tensor4D, u: ConvBn, eps: number, relu: boolean, fold: boolean): tf.Tensor4D {
  const padded = padSymmetric(x, u.pad);
  if (fold) {
    // Inference: BN folded into the conv (one kernel instead of conv + four elementwise passes).
    const scale = tf.div(u.gamma, tf.sqrt(tf.add(u.variance, eps)));
    const filter = tf.mul(u.kernel, scale) as tf.Tensor4D;
    const bias = tf.sub(u.beta, tf.mul(u.mean, scale));
    return tf.fused.conv2d({ x: padded, filter, strides: u.stride, pad: 'valid', bias, activation: relu ? 'relu' : 'linear' });
  }
  const y = tf.conv2d(padded, u.kernel as tf.Tensor4D, u.stride, 'valid');
  const bn = tf.batchNorm(y, u.mean, u.variance, u.beta, u.gamma, eps) as tf.Tensor4D;
  return relu ? tf.relu(bn) : bn;
}

export class ResnetEncoder {
  /** Weights training updates: stages 2-4 when fine-tuning, else none. */
  readonly variables: NamedVariable[] = [];
  /** Every weight a checkpoint stores, trainable or not, in a fixed order. */
  readonly storedVariables: NamedVariable[] = [];
  private readonly stem: ConvBn;
  private readonly stages: Block[][] = [];
  private readonly eps: number;

  constructor(
    private readonly options: ResnetOptions,
    private readonly gridSize: number,
    prefix: string,
  ) {
    this.eps = options.bnEpsilon ?? 1e-5;
    const widths = options.widths ?? DEFAULT_RESNET_WIDTHS;
    const stemC = options.stem ?? 64;
    const make = (key: string, inC: number, outC: number, k: number, stride: number, trainable: boolean): ConvBn => {
      const bn = key.replace(/conv(\d)$/, 'bn$1').replace(/downsample\.0$/, 'downsample.1');
      const v = (name: string, init: tf.Tensor, train: boolean) => {
        const variable = tf.variable(init, train, `${prefix}/encoder/resnet/${name}`);
        this.storedVariables.push({ name: `encoder/resnet/${name}`, variable });
        if (train) this.variables.push({ name: `encoder/resnet/${name}`, variable });
        return variable;
      };
      // Shapes only: weights come from a .pth file (the values here are a He-normal-sized placeholder
      // so an unimported model still computes finite features).
      const bound = Math.sqrt(6 / (k * k * inC));
      return tf.tidy(() => ({
        kernel: v(`${key}.weight`, tf.randomUniform([k, k, inC, outC], -bound, bound, 'float32', 29), trainable),
        gamma: v(`${bn}.weight`, tf.ones([outC]), trainable),
        beta: v(`${bn}.bias`, tf.zeros([outC]), trainable),
        mean: v(`${bn}.running_mean`, tf.zeros([outC]), false),
        variance: v(`${bn}.running_var`, tf.ones([outC]), false),
        stride,
        pad: (k - 1) / 2,
      }));
    };
    this.stem = make('conv1', 3, stemC, 7, 2, false);
    let inC = stemC;
    options.layers.forEach((n, s) => {
      // The reference fine-tunes children [5:] of the Sequential: layer2, layer3, layer4.
      const train = options.fineTune && s >= 1;
      const planes = widths[s]!;
      const outC = planes * expansion(options);
      const blocks: Block[] = [];
      for (let i = 0; i < n; i++) {
        const stride = i === 0 && s > 0 ? 2 : 1;
        const key = `layer${s + 1}.${i}`;
        const convs =
          options.block === 'bottleneck'
            ? [make(`${key}.conv1`, inC, planes, 1, 1, train), make(`${key}.conv2`, planes, planes, 3, stride, train), make(`${key}.conv3`, planes, outC, 1, 1, train)]
            : [make(`${key}.conv1`, inC, planes, 3, stride, train), make(`${key}.conv2`, planes, planes, 3, 1, train)];
        const downsample = stride !== 1 || inC !== outC ? make(`${key}.downsample.0`, inC, outC, 1, stride, train) : undefined;
        blocks.push({ convs, downsample });
        inC = outC;
      }
      this.stages.push(blocks);
    });
  }

  /** images [B, S, S, 3] (ImageNet-normalised) -> [B, grid*grid, C]. Caller owns the result. */
  encode(images: tf.Tensor4D, training: boolean): tf.Tensor3D {
    return tf.tidy(() => {
      // Folding is exact algebra; without gradients it saves the BN passes. Training a fine-tuned
      // encoder keeps them apart so gamma and beta get their gradients.
      const fold = !(training && this.options.fineTune);
      let x = convBn(images, this.stem, this.eps, true, fold);
      // Zero padding is exact here: the input is a ReLU output (>= 0), so a padded zero never wins.
      x = tf.maxPool(padSymmetric(x, 1), 3, 2, 'valid');
      for (const stage of this.stages) {
        for (const block of stage) {
          const identity = block.downsample ? convBn(x, block.downsample, this.eps, false, fold) : x;
          let y = x;
          block.convs.forEach((u, i) => {
            y = convBn(y, u, this.eps, i < block.convs.length - 1, fold);
          });
          x = tf.relu(tf.add(y, identity)) as tf.Tensor4D;
        }
      }
      return adaptiveAvgPoolToGrid(x, this.gridSize);
    });
  }

  dispose(): void {
    for (const v of this.storedVariables) v.variable.dispose();
  }
}
