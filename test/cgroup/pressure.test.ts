// PSI `some avg10` with each sample (docs/DESIGN.md, "Memory signals"): parsed from the kernel's
// line, read from the cgroup's memory.pressure (v2) or /proc/pressure/memory (v1, the whole
// system), an absent file is an absent field, a garbled one an error naming the file. On this
// machine (cgroup v1, kernel with PSI) the real /proc/pressure/memory is read.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCgroupError, parsePressureSomeAvg10 } from '../../adapters/cgroup/parse.ts';
import { openCgroup, readCgroup } from '../../adapters/cgroup/reader.ts';
import { Cleanup, tempDir } from '../support/daemon.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cgroup', import.meta.url));
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';
/** As Debian's 6.1 kernel printed it in the guest, after an OOM kill. */
const KERNEL_PSI =
  'some avg10=44.14 avg60=12.03 avg300=2.81 total=9876543\nfull avg10=40.02 avg60=10.50 avg300=2.40 total=8765432\n';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A copy of the v2 pod fixture, to add a memory.pressure to. */
function v2Copy(): string {
  const dir = join(tempDir(cleanup), 'pod');
  cpSync(`${FIXTURES}/v2/fs/cgroup${POD}`, dir, { recursive: true });
  return dir;
}

describe('parsePressureSomeAvg10', () => {
  it('takes avg10 of the "some" line, in percent', () => {
    expect(parsePressureSomeAvg10(KERNEL_PSI, 'f')._unsafeUnwrap()).toBe(44.14);
    expect(parsePressureSomeAvg10('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', 'f')).toEqual(
      parsePressureSomeAvg10('some avg10=0 total=0', 'f'),
    );
    expect(
      parsePressureSomeAvg10('full avg10=1.00\nsome avg10=100.00 total=1', 'f')._unsafeUnwrap(),
    ).toBe(100);
  });

  it.each([
    ['', '""'],
    ['full avg10=1.00 avg60=0.00 avg300=0.00 total=1', '"full avg10=1.00'],
    ['some avg60=1.00 total=1', '"some avg60=1.00 total=1"'],
    ['some avg10=abc total=1', '"some avg10=abc total=1"'],
    ['some avg10=150.00 total=1', '"some avg10=150.00 total=1"'],
    ['some avg10=-1.00 total=1', '"some avg10=-1.00 total=1"'],
  ])('calls %j garbled, naming the file', (text, quoted) => {
    const error = parsePressureSomeAvg10(text, '/x/memory.pressure')._unsafeUnwrapErr();
    expect(error.kind).toBe('garbled');
    expect(formatCgroupError(error)).toContain('/x/memory.pressure');
    expect(error.detail).toContain(quoted);
  });
});

describe('reading PSI with each sample', () => {
  it('v2: reads the cgroup memory.pressure', () => {
    const dir = v2Copy();
    writeFileSync(join(dir, 'memory.pressure'), KERNEL_PSI);
    const reading = openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrap();
    expect(reading.pressureSomeAvg10Pct).toBe(44.14);
  });

  it('v2: no memory.pressure (PSI off) is no field, not an error', () => {
    const dir = v2Copy();
    rmSync(join(dir, 'memory.pressure'));
    const reading = openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrap();
    expect(reading).not.toHaveProperty('pressureSomeAvg10Pct');
  });

  it('v2: a garbled memory.pressure fails the read, naming the file', () => {
    const dir = v2Copy();
    writeFileSync(join(dir, 'memory.pressure'), 'some avg10=lots\n');
    const error = openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrapErr();
    expect(error).toMatchObject({ kind: 'garbled', file: join(dir, 'memory.pressure') });
  });

  it('v1: reads pressure/memory of the proc root; absent is no field, garbled an error', () => {
    const procRoot = tempDir(cleanup);
    cpSync(`${FIXTURES}/v1-proc`, procRoot, { recursive: true });
    const read = () => openCgroup({ dir: `${FIXTURES}/v1-limited`, procRoot }).andThen(readCgroup);
    expect(read()._unsafeUnwrap()).not.toHaveProperty('pressureSomeAvg10Pct');
    mkdirSync(join(procRoot, 'pressure'));
    writeFileSync(join(procRoot, 'pressure', 'memory'), KERNEL_PSI);
    expect(read()._unsafeUnwrap().pressureSomeAvg10Pct).toBe(44.14);
    writeFileSync(join(procRoot, 'pressure', 'memory'), 'some\n');
    expect(read()._unsafeUnwrapErr()).toMatchObject({
      kind: 'garbled',
      file: join(procRoot, 'pressure', 'memory'),
    });
  });

  // This machine's kernel has PSI; Debian's turns it off by default (psi=1 turns it on).
  it('v1 on this machine: the real /proc/pressure/memory when the kernel has PSI, else no field', () => {
    const reading = openCgroup({ dir: `${FIXTURES}/v1-limited` })
      .andThen(readCgroup)
      ._unsafeUnwrap();
    if (!existsSync('/proc/pressure/memory')) {
      expect(reading).not.toHaveProperty('pressureSomeAvg10Pct');
      return;
    }
    const kernel = parsePressureSomeAvg10(
      readFileSync('/proc/pressure/memory', 'utf8'),
      '/proc/pressure/memory',
    )._unsafeUnwrap();
    // avg10 moves every 2 s: read a moment apart, the two agree to within a little.
    expect(Math.abs((reading.pressureSomeAvg10Pct ?? -1) - kernel)).toBeLessThan(5);
  });
});
