/**
 * A private virtual microphone for end-to-end tests: a PulseAudio daemon with a
 * 16 kHz mono null sink whose monitor is the default source. Audio played into the
 * sink with `paplay` reaches recorders sample-exactly (see docs/testing.md).
 * Tests skip when PulseAudio is not installed, unless KWS_REQUIRE_VMIC=1 (CI).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface VirtualMic {
  /** Environment to give recorders and paplay so they talk to this daemon. */
  env: NodeJS.ProcessEnv;
  /** Play a WAV into the virtual microphone; resolves when playback ends. */
  play(wavPath: string): Promise<void>;
  stop(): void;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why the virtual microphone cannot run here, or null if it can. */
export function vmicUnavailableReason(): string | null {
  for (const cmd of ['pulseaudio', 'pactl', 'paplay']) {
    if (!has(cmd)) return `${cmd} is not installed (apt-get install pulseaudio pulseaudio-utils)`;
  }
  return null;
}

/** Skip option for node:test: false when the mic can run, else the reason (or throws in CI). */
export function vmicSkip(): string | false {
  const reason = vmicUnavailableReason();
  if (reason && process.env.KWS_REQUIRE_VMIC === '1') throw new Error(`virtual microphone required but unavailable: ${reason}`);
  return reason ?? false;
}

export function startVirtualMic(): VirtualMic {
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'kws-vmic-'));
  fs.chmodSync(runtime, 0o700);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_RUNTIME_DIR: runtime,
    PULSE_SERVER: `unix:${runtime}/pulse/native`,
    HOME: runtime, // keeps pulseaudio from touching the real ~/.config/pulse
  };
  execFileSync(
    'pulseaudio',
    [
      '--daemonize=yes', '-n', '--exit-idle-time=-1', '--use-pid-file=yes',
      `--log-target=file:${runtime}/pulse.log`,
      '--load=module-native-protocol-unix auth-anonymous=1',
      // norewinds=1 is essential: without it captures come out scrambled or lose the first ~1.5 s.
      '--load=module-null-sink sink_name=kwsnull rate=16000 channels=1 format=s16le norewinds=1',
    ],
    { env, stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  while (spawnSync('pactl', ['info'], { env, stdio: 'ignore' }).status !== 0) {
    if (Date.now() > deadline) throw new Error(`PulseAudio did not start; see ${runtime}/pulse.log`);
    spawnSync('sleep', ['0.1']);
  }
  execFileSync('pactl', ['set-default-sink', 'kwsnull'], { env });
  execFileSync('pactl', ['set-default-source', 'kwsnull.monitor'], { env });
  const pid = Number(fs.readFileSync(path.join(runtime, 'pulse', 'pid'), 'utf8').trim());
  return {
    env,
    play(wavPath) {
      return new Promise((resolve, reject) => {
        // Asynchronous, so the test keeps reading the recorder's output while audio plays.
        const child = spawn('paplay', ['--device=kwsnull', wavPath], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`paplay failed (${code}): ${err}`))));
      });
    },
    stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        const st = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
        if (st === '' || st.startsWith('Z')) break;
        spawnSync('sleep', ['0.05']);
      }
      fs.rmSync(runtime, { recursive: true, force: true });
    },
  };
}
