/**
 * The names an audio source accepts (recorders, raw sample formats, pacing), in a module
 * with no imports, so the CLI can offer them as option choices without loading the audio
 * code, and the two lists can never drift apart.
 */
export const RECORDERS = ['auto', 'rec', 'arecord', 'sox'] as const;
export type RecorderChoice = (typeof RECORDERS)[number];
export type Recorder = Exclude<RecorderChoice, 'auto'>;

export const RAW_FORMATS = ['s16le', 's16be', 'u8', 's8', 's24le', 's32le', 'f32le', 'f64le'] as const;
export type RawFormat = (typeof RAW_FORMATS)[number];

export type Pace = 'realtime' | 'fast';
