/**
 * `kws stream`: send the microphone, a WAV file or stdin to a `kws serve` (or the original
 * udpserver.py with --legacy) and print the hits as they come back.
 */
import { Option, type Command } from 'commander';
import { intArg, numberArg } from './args';
import { addSourceOptions, checkSourceFlags, openStoppable, sourceOptionsFrom, type SourceFlags } from './audio-options';
import { ExitCode, UserError, usageError } from '../util/errors';
import type { AudioSource, AudioSourceOptions } from '../audio/source';

interface StreamFlags extends SourceFlags {
  host: string;
  port: number;
  token?: string;
  legacy?: boolean;
  json?: boolean;
  threshold: number;
  refractory: number;
  allLabels?: boolean;
  results?: boolean;
  silence: number;
  sendRate: number;
}

/** The original server classified every 4th 1024-sample datagram. */
const LEGACY_HOP_SAMPLES = 4096;

export function define(program: Command): void {
  const cmd = program
    .command('stream')
    .description('stream the microphone, a WAV file or stdin to kws serve and print hits')
    .addOption(new Option('--host <address>', 'server address').default('localhost'))
    .addOption(new Option('-p, --port <port>', 'server UDP port').argParser(intArg('--port', 1, 65535)).default(4444))
    .addOption(new Option('--token <secret>', 'shared secret of a server started with --token (also $KWS_TOKEN)').env('KWS_TOKEN'))
    .option('--legacy', "speak the original protocol (raw 2048-byte PCM datagrams), e.g. to the original udpserver.py")
    .option('--json', 'one JSON object per hit on stdout: label, probability, t (stream seconds), latency_ms')
    .addOption(new Option('--threshold <p>', 'report a label when its probability reaches this').argParser(numberArg('--threshold', 0, 1)).default(0.6))
    .addOption(new Option('--refractory <seconds>', 'report each label at most once per this many seconds').argParser(numberArg('--refractory', 0, 3600)).default(2))
    .option('--all-labels', 'also report labels starting with "_" (_background_, _unknown_)')
    .option('--results', 'with --json: print every window result, not only hits (input for `kws score --hits`)')
    .addOption(new Option('--silence <rms>', "don't send chunks quieter than this integer RMS (the original client's threshold was 30; 0 sends everything)").argParser(intArg('--silence', 0, 32768)).default(0))
    .addOption(new Option('--send-rate <hz>', 'resample to this rate before sending (kws protocol only; 8000 halves the bandwidth but loses the 4-8 kHz band a 16 kHz model was trained on: far more false hits)').argParser(intArg('--send-rate', 4000, 192000)).default(16000));
  addSourceOptions(cmd, { pace: 'realtime' });
  cmd
    .addHelpText(
      'after',
      `
Hits print as the original client printed them: hit {'label': 'yes', 'probability': 0.93}.
Files are sent at real-time pace unless --fast; the command exits 0 once the last results
of a file are in. Ctrl+C stops the microphone.

Examples:
  $ kws stream                                  # microphone -> localhost:4444
  $ kws stream -i words.wav --fast --json
  $ kws stream --host 192.168.1.20 --token "$(cat ~/.kws-token)"
  $ kws stream -i - --rate 44100 < audio.raw    # raw PCM on stdin
  $ kws stream --legacy --silence 30            # exactly what the original mic.py -s sent`,
    )
    .action(async (flags: StreamFlags, command: Command) => {
      checkSourceFlags(command, flags);
      await runStream(flags);
    });
}

async function runStream(flags: StreamFlags): Promise<void> {
  if (flags.legacy && flags.token) throw usageError('--legacy and --token cannot go together', 'The original protocol has no authentication; drop one of them.');
  if (flags.legacy && flags.sendRate !== 16000) throw usageError('--send-rate needs the kws protocol', 'The original protocol is always 16 kHz; drop --legacy or --send-rate.');
  if (flags.results && !flags.json) throw usageError('--results needs --json');
  const { openAudioSource } = await import('../audio/source.js');
  const sourceOptions = sourceOptionsFrom(flags, { pace: 'realtime' });
  // The handlers come first: between the recorder's start and the first audio sent lie the
  // connection and the server's hello, long enough for a Ctrl+C.
  const { source, disposeSignals } = await openStoppable(() => openAudioSource(sourceOptions));
  try {
    await streamSource(flags, sourceOptions, source, disposeSignals);
  } finally {
    disposeSignals();
    source.stop();
  }
}

async function streamSource(flags: StreamFlags, sourceOptions: AudioSourceOptions, source: AudioSource, disposeSignals: () => void): Promise<void> {
  const { rmsInt } = await import('../audio/level.js');
  const { Resampler } = await import('../audio/resample.js');
  const { floatToInt16, int16ToFloat } = await import('../audio/wav.js');
  const { StreamClient } = await import('../stream/client.js');
  const { Detector, formatHit } = await import('../stream/detector.js');
  const isFile = flags.input !== undefined;
  const client = await StreamClient.connect({ host: flags.host, port: flags.port, token: flags.token, legacy: Boolean(flags.legacy), sampleRate: flags.sendRate });
  const detector = new Detector({ threshold: flags.threshold, refractory: flags.refractory, includeHidden: Boolean(flags.allLabels) });
  const started = performance.now();
  let results = 0;
  let hits = 0;
  let offset = 0;
  let flow: import('../stream/flow.js').FlowControl | null = null;
  client.onResult = (r) => {
    results++;
    flow?.onResult();
    // The original protocol's replies carry no time. The original server answered once per
    // 4096 samples (every 4th datagram), so reply n ends at n * 0.256 s of audio: right at any
    // pace (--fast included) against udpserver.py or a kws serve with the default --hop.
    const t = r.t ?? (results * LEGACY_HOP_SAMPLES) / 16000;
    const latency = r.latencyMs === null ? null : Math.round(r.latencyMs * 10) / 10;
    if (flags.results) {
      process.stdout.write(`${JSON.stringify({ label: r.label, probability: r.probability, t: r.t, latency_ms: latency, seq: r.seq })}\n`);
    }
    if (!detector.accept(r.label, r.probability, t)) return;
    hits++;
    if (flags.results) return;
    if (flags.json) process.stdout.write(`${JSON.stringify({ label: r.label, probability: r.probability, t: r.t, latency_ms: latency })}\n`);
    else process.stdout.write(`${formatHit(r.label, r.probability)}\n`);
  };
  client.onError = (message) => process.stderr.write(`kws stream: the server says: ${message}\n`);

  try {
    let modelNote = '';
    if (!flags.legacy) {
      const w = await client.hello();
      if (isFile && sourceOptions.pace === 'fast') {
        const { FlowControl } = await import('../stream/flow.js');
        flow = new FlowControl({ windowSamples: w.windowSamples, hopSamples: w.hopSamples, serverRate: w.sampleRate, clientRate: flags.sendRate, maxDatagramsPerSec: w.maxDatagramsPerSec });
      }
      modelNote = ` (model ${w.model}${w.labels ? `: ${w.labels.join(', ')}` : ''})`;
    }
    process.stderr.write(`kws stream: ${source.description} -> ${client.target}${flags.legacy ? ' (original protocol)' : ''}${modelNote}\n`);
    const resampler = flags.sendRate !== 16000 ? new Resampler(16000, flags.sendRate) : null;
    let pending = new Int16Array(0);
    let warned = false;
    let sent = 0;
    const send = async (chunk: Int16Array): Promise<void> => {
      // The silence gate skips a chunk; the kws offset still advances, so the server
      // places the next audio at the right time (the original simply lost the time).
      if (flags.silence > 0 && rmsInt(chunk) < flags.silence) {
        flow?.skip(chunk.length);
        offset += chunk.length;
        return;
      }
      await flow?.beforeSend(chunk.length);
      await client.sendAudio(chunk, offset);
      offset += chunk.length;
      sent++;
      if (!warned && client.repliesReceived === 0 && performance.now() - started > 5000 && sent > 20) {
        warned = true;
        process.stderr.write(`kws stream: warning: no answer from ${client.target} yet (is \`kws serve\` running there${flags.token ? ' with the same --token' : ''}?)\n`);
      }
    };
    try {
      for await (const piece of source) {
        const pcm = resampler ? floatToInt16(resampler.process(int16ToFloat(piece))) : piece;
        // Whole 1024-sample datagrams, as the original sent (2048 bytes).
        const joined = new Int16Array(pending.length + pcm.length);
        joined.set(pending, 0);
        joined.set(pcm, pending.length);
        let pos = 0;
        for (; pos + 1024 <= joined.length; pos += 1024) await send(joined.subarray(pos, pos + 1024));
        pending = joined.slice(pos);
      }
      if (resampler) {
        const tail = floatToInt16(resampler.flush());
        const joined = new Int16Array(pending.length + tail.length);
        joined.set(pending, 0);
        joined.set(tail, pending.length);
        pending = joined;
      }
      if (pending.length > 0) await send(pending);
    } finally {
      // Past the last audio a Ctrl+C means quit, not "stop reading": no handler while the end is awaited.
      disposeSignals();
    }
    if (client.connectionRefused && client.repliesReceived === 0) throw client.noAnswer();
    const end = await client.finish();
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if (!flags.legacy && end === null) {
      throw new UserError(`the server at ${client.target} stopped answering before the end of the stream (${results} results received)`, {
        exitCode: ExitCode.network,
        hint: 'Check that `kws serve` is still running; results for the last part of the audio may be missing.',
      });
    }
    if (flags.legacy && results === 0 && sent > 0) throw client.noAnswer();
    const loss = end ? `; server: ${end.received} datagrams received, ${end.lost} lost, ${end.duplicate} duplicate, ${end.late} late` : '';
    process.stderr.write(`kws stream: ${isFile ? 'done' : 'stopped'} after ${secs} s: ${results} results, ${hits} hits${loss}\n`);
  } finally {
    await client.close();
  }
}
