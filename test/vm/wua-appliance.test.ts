/**
 * The libguestfs appliance on a host whose KVM fails probeAccel's test guest: TCG from the first
 * tool on, with one probe per process. Its own file, since the probe's answer is kept for the
 * process (test/vm/wua.test.ts has a KVM that passes the probe).
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applianceNeedsTcg, inspectWuaImage } from '../../src/vm/wua.js';
import { fakeGuestfs } from '../helpers/fake-guestfs.js';

describe('libguestfs where KVM does not run a test guest', () => {
  const fake = fakeGuestfs();
  afterAll(() => fake.remove());

  it('every tool runs under TCG from the start, and the accelerator is probed once', async () => {
    let probes = 0;
    const probe = async () => {
      probes++;
      return { accel: 'tcg' as const, warning: 'KVM is present but did not run a test guest (KVM internal error. Suberror: 1)' };
    };
    // two callers at once share the one probe
    expect(await Promise.all([applianceNeedsTcg(probe), applianceNeedsTcg(probe)])).toEqual([true, true]);
    expect(probes).toBe(1);
    fake.setMode('launch');
    const facts = await fake.with(() => inspectWuaImage(path.join(fake.dir, 'disk.img')));
    expect(facts).toEqual({ arch: 'amd64', hibernated: false, pantherUnattend: [] });
    await fake.with(() => inspectWuaImage(path.join(fake.dir, 'disk.img')));
    // no KVM launch first (which on such a host can hang for libguestfs's 20 minutes)
    expect(fake.runs()).toEqual(['direct force_tcg', 'direct force_tcg']);
    expect(probes).toBe(1);
  });
});
