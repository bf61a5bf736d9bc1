import { describe, expect, it } from 'vitest';
import { trainCommand, trainOptionsOf } from '../../src/cli/commands/train.js';

/** Parses train options the way the CLI does (commander), without running anything. */
function parse(args: string[]): ReturnType<typeof trainOptionsOf> {
  const cmd = trainCommand().exitOverride().configureOutput({ writeErr: () => undefined }).action(() => undefined);
  cmd.parse(['--out', 'm', ...args], { from: 'user' });
  return trainOptionsOf(cmd.opts() as Parameters<typeof trainOptionsOf>[0]);
}

describe('captioner train options -> training configuration', () => {
  it('defaults to the reference: ReLU attention, alpha_c 1, clip by value 5, teacher forcing', () => {
    const o = parse([]);
    expect(o.model).toMatchObject({ attentionActivation: 'relu', initState: 'mean', encoder: { kind: 'compact-cnn', channels: [32, 64, 128, 128] } });
    expect(o.model?.wordDetector).toBeUndefined();
    expect(o.trainer).toMatchObject({ alphaC: 1, attentionEntropy: 0, wordDetection: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, decoderLr: 4e-4, encoderLr: 1e-4, averageDecay: 0 });
  });

  it('passes the attention, encoder, regularisation and sampling options through', () => {
    const o = parse(['--attention', 'tanh', '--kernel-sizes', '3,3,1,1', '--coord-channels', '--context-channels', '16', '--alpha-c', '0.3', '--clip-norm', '2', '--scheduled-sampling', '0.25', '--init-state', 'bias', '--attention-entropy', '0.1', '--word-detection', '4', '--attention-guidance', '2', '--guidance-sharpness', '3', '--average-decay', '0.998', '--deep-output', '--attention-memory']);
    expect(o.model).toMatchObject({ attentionActivation: 'tanh', initState: 'bias', wordDetector: true, deepOutput: true, attentionMemory: true, encoder: { kernelSizes: [3, 3, 1, 1], coordChannels: true, contextChannels: 16 } });
    expect(o.trainer).toMatchObject({ alphaC: 0.3, attentionEntropy: 0.1, wordDetection: 4, attentionGuidance: 2, guidanceSharpness: 3, averageDecay: 0.998, clipNorm: 2, scheduledSampling: 0.25 });
  });

  it('refuses attention guidance without the word detector that is its teacher', () => {
    expect(parse([]).trainer?.attentionGuidance).toBe(0);
    expect(() => parse(['--attention-guidance', '1'])).toThrow(/--attention-guidance learns from the word detector: add --word-detection W/);
  });

  it('gives a new model a phrase detector only with --phrase-detection, which needs the word detector', () => {
    expect(parse([]).phrases).toBeUndefined();
    const o = parse(['--word-detection', '150', '--phrase-detection', '200', '--phrases', '64']);
    expect(o.phrases).toBe(64);
    expect(o.trainer).toMatchObject({ wordDetection: 150, phraseDetection: 200 });
    expect(parse(['--word-detection', '1', '--phrase-detection', '1']).phrases).toBe(96);
    expect(() => parse(['--phrase-detection', '1'])).toThrow(/--phrase-detection works beside the word detector: add --word-detection W/);
    expect(() => parse(['--word-detection', '1', '--phrase-detection', '1', '--phrases', '0'])).toThrow(/--phrases.*integer >= 1/);
  });

  it('passes a learning-rate anneal through only when --anneal-minutes is given', () => {
    expect(parse([]).annealMinutes).toBeUndefined();
    expect(parse(['--anneal-minutes', '30', '--anneal-groups', 'encoder'])).toMatchObject({ annealMinutes: 30, annealFloor: 0.05, annealGroups: 'encoder' });
    expect(() => parse(['--anneal-minutes', '30', '--anneal-groups', 'lstm'])).toThrow(/--anneal-groups/);
    expect(() => parse(['--anneal-groups', 'encoder'])).toThrow(/--anneal-groups encoder shapes an anneal: add --anneal-minutes M or --anneal-steps N/);
    expect(parse(['--anneal-steps', '4000', '--anneal-groups', 'encoder', '--max-steps', '4000'])).toMatchObject({ annealSteps: 4000, annealGroups: 'encoder', maxSteps: 4000 });
    expect(parse([]).maxSteps).toBe(Infinity);
    expect(() => parse(['--anneal-steps', '10', '--anneal-minutes', '3'])).toThrow(/--anneal-minutes and --anneal-steps are two clocks for one anneal: pass one/);
  });

  it('rejects values outside their range, naming the option', () => {
    expect(() => parse(['--scheduled-sampling', '2'])).toThrow(/--scheduled-sampling.*\[0, 1\]/);
    expect(() => parse(['--dropout', '1'])).toThrow(/--dropout.*\[0, 1\)/);
    expect(() => parse(['--attention', 'sigmoid'])).toThrow(/relu, tanh/);
    expect(() => parse(['--guidance-sharpness', '0.5'])).toThrow(/--guidance-sharpness.*expected a number >= 1/);
    expect(() => parse(['--average-decay', '1'])).toThrow(/--average-decay.*\[0, 1\)/);
    expect(() => parse(['--context-channels', '0'])).toThrow(/--context-channels.*integer >= 1/);
    expect(() => parse(['--kernel-sizes', '3,x'])).toThrow(/--kernel-sizes 3,x: expected comma-separated positive integers/);
  });
});
