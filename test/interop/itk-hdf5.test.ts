// ITK HDF5 transform files (.h5, ANTs composites) against an independent HDF5 implementation: Debian's
// python3-h5py writes an ITK-layout file that coreg reads (hand-computed map), and sees ITK's group layout in the
// files coreg writes. Skips with a message when /usr/bin/python3 has no h5py.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/main.js';
import { createImage } from '../../src/image/image.js';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { loadTransformChain } from '../../src/io/chain-io.js';
import { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import { transformChainPoint } from '../../src/transform/chain.js';
import { formatItkHdf5Transform, initHdf5, parseItkHdf5Transform } from '../../src/transform/itk-hdf5.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { AffineTransform, Euler2DTransform } from '../../src/transform/linear.js';
import type { Transform } from '../../src/transform/transform.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { assertArrayClose } from '../helpers.js';

const PY = '/usr/bin/python3';
const HAVE = spawnSync(PY, ['-c', 'import h5py, numpy'], { encoding: 'utf8' }).status === 0;
const SKIP = HAVE ? false : 'Debian python3-h5py is not installed (apt-get install python3-h5py)';
const DIR = mkdtempSync(join(tmpdir(), 'coreg-h5-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
before(async () => initHdf5());

function python(code: string): string {
  const r = spawnSync(PY, ['-c', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function map(chain: readonly Transform[], p: number[]): number[] {
  const out = new Float64Array(p.length);
  transformChainPoint(chain, p, out, new Float64Array(p.length));
  return Array.from(out);
}

test('coreg reads an ITK-layout composite written by h5py (affine + displacement field; vlen and fixed strings)', { skip: SKIP }, () => {
  for (const [name, strType] of [['vlen', 'h5py.string_dtype()'], ['fixed', "'S64'"]]) {
    const file = join(DIR, `py-${name}.h5`);
    python(`
import h5py, numpy as np
f = h5py.File(${JSON.stringify(file)}, 'w')
def s(g, k, v): g.create_dataset(k, data=np.array([v], dtype=${strType}))
g = f.create_group('TransformGroup')
s(g.create_group('0'), 'TransformType', 'CompositeTransform_double_3_3')
a = g.create_group('1')   # applied last (ITK's queue is applied back to front)
s(a, 'TransformType', 'AffineTransform_double_3_3')
a.create_dataset('TransformParameters', data=np.array([2,0,0, 0,1,0, 0,0,1, 10,0,0], dtype='f8'))
a.create_dataset('TransformFixedParameters', data=np.array([1,0,0], dtype='f8'))
d = g.create_group('2')   # applied first: a constant displacement (1, 2, 3) on a 4x3x2 grid, origin (-1,-1,-1)
s(d, 'TransformType', 'DisplacementFieldTransform_double_3_3')
u = np.tile(np.array([1.0, 2.0, 3.0]), 4*3*2)
d.create_dataset('TransformParameters', data=u)
d.create_dataset('TransformFixedParameters', data=np.array([4,3,2, -1,-1,-1, 1,1,2, 1,0,0,0,1,0,0,0,1], dtype='f8'))
f.close()
`);
    const chain = loadTransformChain(file, nodeTransformFiles);
    assert.equal(chain.length, 2);
    assert.ok(chain[0] instanceof DisplacementFieldTransform);
    // x = (0, 0, 0): + u = (1, 2, 3); then A(x) = 2(x − c) + c + t with c = (1, 0, 0), t = (10, 0, 0): (11, 2, 3).
    assertArrayClose(map(chain, [0, 0, 0]), [11, 2, 3], 1e-12, name);
  }
});

test('h5py sees ITK\'s group layout in the .h5 coreg writes; coreg reads it back as the same map', { skip: SKIP }, async () => {
  const e = new Euler2DTransform();
  e.setCenter([3, 4]);
  e.setParameters([0.2, 1, -2]);
  const b = new BSplineTransform({ dimension: 2, gridSize: [6, 5], gridOrigin: [-5, -5], gridSpacing: [5, 6] });
  b.setParameters(Float64Array.from({ length: b.numberOfParameters }, (_, i) => 0.5 * Math.sin(i)));
  const tfm = join(DIR, 'chain.tfm');
  writeFileSync(tfm, formatItkTransformFile([b, e]));
  const h5 = join(DIR, 'chain.h5');
  const r = await run(['transform', 'convert', tfm, h5], { stdout: { write: () => true }, stderr: { write: () => true } });
  assert.equal(r, 0);
  const listing = JSON.parse(
    python(`
import h5py, json
f = h5py.File(${JSON.stringify(h5)}, 'r')
g = f['TransformGroup']
out = []
for k in sorted(g.keys(), key=int):
    t = g[k]['TransformType'][0]
    t = t.decode() if isinstance(t, bytes) else t
    out.append({'key': k, 'type': t, 'params': g[k]['TransformParameters'][:].tolist() if 'TransformParameters' in g[k] else None,
                'fixed': g[k]['TransformFixedParameters'][:].tolist() if 'TransformFixedParameters' in g[k] else None})
print(json.dumps(out))
`),
  ) as { key: string; type: string; params: number[] | null; fixed: number[] | null }[];
  assert.deepEqual(listing.map((x) => x.type), ['CompositeTransform_double_2_2', 'Euler2DTransform_double_2_2', 'BSplineTransform_double_2_2']);
  assert.deepEqual(listing[1].params, Array.from(e.parameters));
  assert.deepEqual(listing[1].fixed, Array.from(e.fixedParameters));
  assert.deepEqual(listing[2].params, Array.from(b.parameters));
  assert.deepEqual(listing[2].fixed, Array.from(b.fixedParameters));
  const back = loadTransformChain(h5, nodeTransformFiles);
  for (const p of [[0, 0], [4, 5], [10, -3]]) assert.deepEqual(map(back, p), map([b, e], p));
});

test('displacement fields and single transforms round-trip through .h5 exactly', async () => {
  await initHdf5();
  const field = createImage([5, 4, 3], 'float32', { spacing: [1, 2, 1.5], origin: [-2, 0, 1], components: 3 });
  for (let i = 0; i < field.data.length; i++) field.data[i] = Math.fround(0.1 * Math.sin(i));
  const f = new DisplacementFieldTransform(field);
  const a = new AffineTransform(3);
  a.setParameters([1, 0.1, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3]);
  const back = parseItkHdf5Transform(formatItkHdf5Transform([f, a]), 'x.h5');
  for (const p of [[0, 1, 2], [1.5, 3, 2.2]]) assert.deepEqual(map(back, p), map([f, a], p));
  const single = parseItkHdf5Transform(formatItkHdf5Transform([a]), 'y.h5');
  assert.equal(single.length, 1);
  assert.throws(() => parseItkHdf5Transform(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'bad.h5'), /not an HDF5 file/);
});
