import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatItkTransformFile, ITK_TRANSFORM_READERS, parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import {
  AffineTransform,
  Euler2DTransform,
  Euler3DTransform,
  MatrixOffsetTransform,
  Similarity2DTransform,
  Similarity3DTransform,
  TranslationTransform,
  VersorRigid3DTransform,
} from '../../src/transform/linear.js';
import type { Transform } from '../../src/transform/transform.js';
import { SKIP_NO_DATA, assertArrayClose, sharedPath } from '../helpers.js';

function apply(t: Transform, p: ArrayLike<number>): Float64Array {
  const out = new Float64Array(t.dimension);
  t.transformPoint(p, out);
  return out;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what} length`);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

function allTypes(): MatrixOffsetTransform[] {
  const ts: MatrixOffsetTransform[] = [];
  const t2 = new TranslationTransform(2);
  t2.setParameters([0.1 + 0.2, -1e-7]);
  const t3 = new TranslationTransform(3);
  t3.setParameters([1 / 3, 2e21, -5]);
  const e2 = new Euler2DTransform();
  e2.setCenter([110.5, 128.5]);
  e2.setParameters([Math.PI / 18, 13.000000000000002, 17]);
  const s2 = new Similarity2DTransform();
  s2.setCenter([111.204, 131.591]);
  s2.setParameters([0.833237, -0.174511, -12.8065, -12.7244]);
  const e3 = new Euler3DTransform();
  e3.setCenter([1.5, -2.25, 3]);
  e3.setParameters([0.1, 0.2, 0.3, 4, 5, 6]);
  const e3z = new Euler3DTransform();
  e3z.setComputeZYX(true);
  e3z.setParameters([-0.1, 0.25, Math.E / 10, 0, 1, 0]);
  const v3 = new VersorRigid3DTransform();
  v3.setCenter([90, 125, -71]);
  v3.setParameters([Math.sin(0.1), 0.02, -0.03, 1.25, -3.5, 0.001]);
  const s3 = new Similarity3DTransform();
  s3.setParameters([0.01, 0.2, -0.3, 1, 2, 3, 1.1]);
  const a2 = new AffineTransform(2);
  a2.setCenter([3, 4]);
  a2.setParameters([1.1, 0.2, -0.3, 0.9, Math.PI, -Math.SQRT2]);
  const a3 = new AffineTransform(3);
  a3.setParameters([1, 0.1, 0, 0, 1, 0.123456789012345, 0.5, 0, 0.99, 1, 2, 3]);
  ts.push(t2, t3, e2, s2, e3, e3z, v3, s3, a2, a3);
  return ts;
}

test('every type round-trips through .tfm text with bit-identical numbers', () => {
  for (const t of allTypes()) {
    const text = formatItkTransformFile([t]);
    const back = parseItkTransformFile(text, 'x.tfm');
    assert.equal(back.length, 1);
    const b = back[0] as MatrixOffsetTransform;
    assert.equal(b.constructor, t.constructor, t.kind);
    sameBits(b.parameters, t.parameters, `${t.kind} parameters`);
    sameBits(b.fixedParameters, t.fixedParameters, `${t.kind} fixed parameters`);
    assert.equal(formatItkTransformFile(back), text, `${t.kind} text stable`);
  }
});

test('a known Euler2D file has ITK\'s exact layout', () => {
  const t = new Euler2DTransform();
  t.setCenter([110, 128]);
  t.setParameters([0.1, 2.5, -3]);
  const expected =
    '#Insight Transform File V1.0\n#Transform 0\nTransform: Euler2DTransform_double_2_2\nParameters: 0.1 2.5 -3\nFixedParameters: 110 128\n';
  assert.equal(formatItkTransformFile([t]), expected);
  const tr = new TranslationTransform(3);
  tr.setParameters([1e-7, 0, 1e21]);
  assert.equal(
    formatItkTransformFile([tr]),
    '#Insight Transform File V1.0\n#Transform 0\nTransform: TranslationTransform_double_3_3\nParameters: 1e-7 0 1e+21\nFixedParameters: \n',
  );
});

test('composites: written in ITK queue order (last applies first), read back in coreg order', () => {
  const shift = new TranslationTransform(2);
  shift.setParameters([1, 0]);
  const quarter = new Euler2DTransform();
  quarter.setParameters([Math.PI / 2, 0, 0]);
  const text = formatItkTransformFile([shift, quarter]);
  const lines = text.split('\n');
  assert.equal(lines[1], '#Transform 0');
  assert.equal(lines[2], 'Transform: CompositeTransform_double_2_2');
  assert.equal(lines[3], '#Transform 1');
  assert.equal(lines[4], 'Transform: Euler2DTransform_double_2_2');
  assert.equal(lines[7], '#Transform 2');
  assert.equal(lines[8], 'Transform: TranslationTransform_double_2_2');
  const back = parseItkTransformFile(text, 'c.tfm');
  assert.deepEqual(back.map((t) => t.kind), ['translation', 'euler2d']);
  // coreg order: shift first, then rotate: (0,0) → (1,0) → (0,1).
  let p: Float64Array = Float64Array.of(0, 0);
  for (const t of back) p = apply(t, p);
  assertArrayClose(p, [0, 1], 1e-15);
});

test('reads _float_ spellings, MatrixOffsetTransformBase, 3-value Euler3D fixed parameters, CRLF and blank lines', () => {
  const text = [
    '#Insight Transform File V1.0',
    '#Transform 0',
    'Transform: CompositeTransform_float_3_3',
    '',
    '#Transform 1',
    'Transform: MatrixOffsetTransformBase_float_3_3',
    'Parameters: 2 0 0 0 2 0 0 0 2 1 1 1',
    'FixedParameters: 0 0 0',
    '#Transform 2',
    'Transform: Euler3DTransform_double_3_3',
    'Parameters:   0 0 0   5 0 0',
    'FixedParameters: 1 2 3',
  ].join('\r\n');
  const ts = parseItkTransformFile(text, 'f.tfm');
  assert.deepEqual(ts.map((t) => t.kind), ['euler3d', 'affine']);
  let p: Float64Array = Float64Array.of(1, 1, 1);
  for (const t of ts) p = apply(t, p);
  assertArrayClose(p, [13, 3, 3], 1e-15);
});

test('IdentityTransform.tfm parses to the identity 3D affine', { skip: SKIP_NO_DATA }, () => {
  const ts = parseItkTransformFile(readFileSync(sharedPath('itk/IdentityTransform.tfm'), 'utf8'), 'IdentityTransform.tfm');
  assert.equal(ts.length, 1);
  const a = ts[0] as AffineTransform;
  assert.ok(a instanceof AffineTransform);
  assert.equal(a.dimension, 3);
  assert.deepEqual(Array.from(a.matrix()), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(a.offset()), [0, 0, 0]);
});

test('errors name the file and say what is wrong', () => {
  const head = '#Insight Transform File V1.0\n#Transform 0\n';
  const cases: [string, RegExp][] = [
    ['Transform: AffineTransform_double_2_2\n', /header/],
    [head + 'Transform: FancyTransform_double_3_3\nParameters: 1\nFixedParameters: 0\n', /unsupported transform type "FancyTransform_double_3_3"/],
    [head + 'Transform: Euler2DTransform_double_3_3\nParameters: 1 2 3\nFixedParameters: 0 0\n', /unsupported transform type/],
    [head + 'Transform: Euler2DTransform_double_2_2\nParameters: 1 2\nFixedParameters: 0 0\n', /expected 3 parameters, got 2/],
    [head + 'Transform: Euler2DTransform_double_2_2\nParameters: 1 2 3\nFixedParameters: 0\n', /expected 2 fixed parameters, got 1/],
    [head + 'Transform: Euler2DTransform_double_2_2\nParameters: 1 nan 3\nFixedParameters: 0 0\n', /"nan" is not a finite number/],
    [head + 'Transform: Euler2DTransform_double_2_2\nParameters: 1 2 3\n', /missing "FixedParameters:"/],
    [head + 'Parameters: 1 2 3\n', /before any "Transform:"/],
    [head + 'Transform: AffineTransform_double_2_2\nParameters: 1 0 0 1 0 0\nFixedParameters: 0 0\nTransform: CompositeTransform_double_2_2\n', /only be the first/],
    [head + 'Transform: CompositeTransform_double_2_2\nTransform: TranslationTransform_double_3_3\nParameters: 1 2 3\nFixedParameters: \n', /3D transform inside a 2D composite/],
    ['#Insight Transform File V1.0\n', /no transform/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseItkTransformFile(text, 'bad.tfm'), (e: unknown) => {
      assert.ok(e instanceof Error && e.name === 'CoregError', String(e));
      assert.equal((e as { subject?: string }).subject, 'bad.tfm');
      assert.match(e.message, message);
      return true;
    });
  }
});

test('a reader table extended by the caller reads new types; the default table does not know them', () => {
  const text = '#Insight Transform File V1.0\nTransform: ScaleTransform_double_2_2\nParameters: 2 3\nFixedParameters: 0 0\n';
  assert.throws(() => parseItkTransformFile(text, 's.tfm'), /unsupported transform type "ScaleTransform_double_2_2"/);
  const readers = { ...ITK_TRANSFORM_READERS, ScaleTransform: (block: { dimension: 2 | 3; parameters: Float64Array }) => {
    const a = new AffineTransform(block.dimension);
    const m = new Float64Array(block.dimension * block.dimension);
    for (let i = 0; i < block.dimension; i++) m[i * block.dimension + i] = block.parameters[i];
    a.setMatrix(m);
    return a;
  } };
  const ts = parseItkTransformFile(text, 's.tfm', readers);
  assertArrayClose(apply(ts[0], [1, 1]), [2, 3], 0);
});
