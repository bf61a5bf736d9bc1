import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPoolToGrid } from './adaptive-pool.js';
import { fileSystemLoader } from './fs-io.js';
import type { NamedVariable } from './named-variable.js';

/**
 * A pretrained backbone loaded from a local directory (tfjs LayersModel or GraphModel), cut at a named
 * output whose [B, h, w, C] map is pooled to the attention grid. It receives the images exactly as
 * preprocessing produced them (ImageNet-normalised by default), so the backbone must expect that.
 */
export class ExternalEncoder {
  /** Trainable weights when fine-tuning (LayersModel only), else empty. */
  readonly variables: NamedVariable[];

  private constructor(
    private readonly run: (images: tf.Tensor4D, training: boolean) => tf.Tensor,
    private readonly owned: { dispose(): void },
    private readonly gridSize: number,
    variables: NamedVariable[],
  ) {
    this.variables = variables;
  }

  static async load(dir: string, featureOutput: string, fineTune: boolean, gridSize: number): Promise<ExternalEncoder> {
    const jsonPath = path.join(dir, 'model.json');
    const raw = await fs.readFile(jsonPath, 'utf8').catch((err: unknown) => {
      throw new Error(`encoder.path ${dir}: no readable model.json (${(err as Error).message}); export the backbone with tf.io or tensorflowjs_converter`, { cause: err });
    });
    const json = JSON.parse(raw) as { format?: string; modelTopology?: { node?: unknown } };
    const isGraph = json.format === 'graph-model' || (json.modelTopology?.node !== undefined);
    if (isGraph) {
      if (fineTune) throw new TypeError(`encoder.path ${dir}: a GraphModel's weights are constants and cannot be fine-tuned; set encoder.fineTune to false or export a LayersModel`);
      const graph = await tf.loadGraphModel(fileSystemLoader(dir));
      const run = (images: tf.Tensor4D) => {
        try {
          return graph.execute(images, featureOutput) as tf.Tensor;
        } catch (err) {
          throw new Error(`encoder.featureOutput "${featureOutput}" is not a node of the GraphModel in ${dir} (${(err as Error).message})`, { cause: err });
        }
      };
      return new ExternalEncoder(run, graph, gridSize, []);
    }
    const full = await tf.loadLayersModel(fileSystemLoader(dir));
    let layer: tf.layers.Layer;
    try {
      layer = full.getLayer(featureOutput);
    } catch (err) {
      const names = full.layers.map((l) => l.name).join(', ');
      full.dispose();
      throw new Error(`encoder.featureOutput "${featureOutput}" is not a layer of ${jsonPath}; layers: ${names}`, { cause: err });
    }
    const featureModel = tf.model({ inputs: full.inputs, outputs: layer.output as tf.SymbolicTensor });
    featureModel.trainable = fineTune;
    const variables = fineTune
      ? featureModel.trainableWeights.map((lv, i) => ({ name: `encoder/external/${i}/${lv.originalName}`, variable: lv.read() as tf.Variable }))
      : [];
    const run = (images: tf.Tensor4D, training: boolean) => featureModel.apply(images, { training }) as tf.Tensor;
    return new ExternalEncoder(run, full, gridSize, variables);
  }

  /** images [B, S, S, 3] -> [B, grid*grid, C]. Caller owns the result. */
  encode(images: tf.Tensor4D, training: boolean): tf.Tensor3D {
    return tf.tidy(() => {
      const out = this.run(images, training);
      if (out.rank === 4) return adaptiveAvgPoolToGrid(out as tf.Tensor4D, this.gridSize);
      if (out.rank === 3 && out.shape[1] === this.gridSize * this.gridSize) return out as tf.Tensor3D;
      throw new Error(`encoder feature output has shape [${out.shape.join(', ')}]; expected [B, h, w, C] or [B, ${this.gridSize * this.gridSize}, C]`);
    });
  }

  dispose(): void {
    this.owned.dispose();
  }
}
