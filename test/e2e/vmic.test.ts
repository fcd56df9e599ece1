/**
 * The real microphone path, end to end: a private PulseAudio virtual microphone
 * (test/vmic.ts) hears known audio, and the real `kws` binary records it through
 * the default recorder and through arecord.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeWav, decodeWav } from '../../src/audio/wav';
import { makeTempDir, repoRoot, spawnKws } from '../helpers';
import { startVirtualMic, vmicSkip, type VirtualMic } from '../vmic';

const RATE = 16000;
const skip = vmicSkip();

/** Silence and tone bursts: [seconds, frequency or 0 for silence]. */
function toneWav(file: string, parts: [number, number][]): void {
  const total = parts.reduce((n, [s]) => n + Math.round(s * RATE), 0);
  const pcm = new Int16Array(total);
  let at = 0;
  for (const [seconds, freq] of parts) {
    const n = Math.round(seconds * RATE);
    for (let i = 0; i < n && freq > 0; i++) pcm[at + i] = Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * freq * i) / RATE));
    at += n;
  }
  fs.writeFileSync(file, encodeWav(pcm, RATE));
}

function collect(child: ChildProcess): { out: () => string; err: () => string; exit: Promise<number | null> } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { out: () => out, err: () => err, exit };
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('virtual microphone', { skip }, () => {
  let mic: VirtualMic;
  let dir: string;
  let bursts: string;
  before(() => {
    mic = startVirtualMic();
    dir = makeTempDir('kws-vmic-');
    bursts = path.join(dir, 'bursts.wav');
    // Leading silence covers the recorder's start-up (0.2-1.3 s measured under load).
    toneWav(bursts, [[1.0, 0], [0.6, 440], [1.2, 0], [0.6, 880], [1.2, 0]]);
  });
  after(() => mic?.stop());

  /** Seconds 2.5-13.5 of the shipped demo recording: "yes" at 3.7 s, "no" at 5.5 s, "go" at 12.2 s, two other words. */
  function wordsExcerpt(): string {
    const file = path.join(dir, 'words.wav');
    if (fs.existsSync(file)) return file;
    const demo = decodeWav(fs.readFileSync(path.join(repoRoot, 'assets', 'demo', 'stream.wav')), 'stream.wav');
    const src = demo.data[0] as Float32Array;
    const lead = RATE; // a second of silence while the recorder starts
    const pcm = new Int16Array(lead + 11 * RATE);
    for (let i = 0; i < 11 * RATE; i++) pcm[lead + i] = Math.round((src[Math.round(2.5 * RATE) + i] ?? 0) * 32768);
    fs.writeFileSync(file, encodeWav(pcm, RATE));
    return file;
  }

  test('kws doctor finds the microphone through every recorder', async () => {
    const child = spawnKws(['doctor', '--json', '--dir', dir], { env: mic.env });
    const io = collect(child);
    await io.exit;
    const report = JSON.parse(io.out()) as { checks: { name: string; status: string; detail: string }[] };
    const mics = report.checks.filter((c) => c.name.startsWith('microphone'));
    assert.ok(mics.length >= 2, JSON.stringify(report.checks));
    for (const c of mics) assert.equal(c.status, 'ok', `${c.name}: ${c.detail}`);
  });

  for (const recorder of ['auto', 'arecord'] as const) {
    const recArgs = recorder === 'auto' ? [] : ['--recorder', recorder];

    test(`kws rms hears the tone (${recorder})`, async () => {
      const child = spawnKws(['rms', '--json', '--seconds', '8', ...recArgs], { env: mic.env });
      const io = collect(child);
      await waitFor(() => io.out().includes('\n'), 15_000, 'the first level line');
      await mic.play(bursts);
      child.kill('SIGINT');
      assert.equal(await io.exit, 0, io.err());
      const rows = io.out().trim().split('\n').map((l) => JSON.parse(l) as { rms: number });
      const levels = rows.map((r) => r.rms);
      // A 0.3-amplitude sine has RMS 0.3*32767/sqrt(2) = 6951 on the original's integer scale.
      assert.ok(Math.max(...levels) > 6000, `loudest chunk ${Math.max(...levels)}`);
      assert.ok(Math.min(...levels) < 30, `quietest chunk ${Math.min(...levels)}`);
    });

    test(`kws stream sends the microphone to kws serve and the spoken words come back (${recorder})`, async () => {
      const server = spawnKws(['serve', '-n', path.join(repoRoot, 'assets', 'demo', 'model'), '--port', '0']);
      const srv = collect(server);
      try {
        await waitFor(() => /listening on udp [^\s]+:\d+/.test(srv.err()), 60_000, 'the server');
        const port = /listening on udp [^\s]+:(\d+)/.exec(srv.err())?.[1] ?? '';
        const client = spawnKws(['stream', '--json', '--host', '127.0.0.1', '-p', port, ...recArgs], { env: mic.env });
        const io = collect(client);
        await sleep(1500);
        await mic.play(wordsExcerpt());
        await sleep(1000);
        client.kill('SIGINT');
        assert.equal(await io.exit, 0, io.err());
        const labels = io.out().trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { label: string }).label);
        for (const word of ['yes', 'no', 'go']) assert.ok(labels.includes(word), `"${word}" not heard; hits: ${labels.join(', ')}\n${io.err()}`);
      } finally {
        server.kill('SIGINT');
        await srv.exit;
      }
    });

    test(`kws record splits two bursts into two clips (${recorder})`, async () => {
      const out = path.join(dir, `predata-${recorder}`);
      const child = spawnKws(['record', 'yes', '--dir', out, '--json', ...recArgs], { env: mic.env });
      const io = collect(child);
      await sleep(1500);
      await mic.play(bursts);
      await waitFor(() => io.out().trim().split('\n').filter(Boolean).length >= 2, 10_000, 'two saved clips');
      child.kill('SIGINT');
      assert.equal(await io.exit, 0, io.err());
      const files = fs.readdirSync(path.join(out, 'yes')).filter((f) => f.endsWith('.wav'));
      assert.equal(files.length, 2, `clips: ${files.join(', ')}\n${io.err()}`);
      for (const f of files) {
        const wav = decodeWav(fs.readFileSync(path.join(out, 'yes', f)), f);
        const seconds = (wav.data[0]?.length ?? 0) / wav.sampleRate;
        assert.equal(wav.sampleRate, RATE);
        // 0.6 s of tone plus a little pre/post roll.
        assert.ok(seconds > 0.55 && seconds < 1.3, `${f}: ${seconds} s`);
      }
    });
  }
});
