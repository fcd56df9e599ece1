// Types for the parts of node-record-lpcm16 (which ships none) that kws uses.
declare module 'node-record-lpcm16' {
  import type { ChildProcess } from 'node:child_process';
  import type { Readable } from 'node:stream';

  export interface RecordOptions {
    sampleRate?: number;
    channels?: number;
    recorder?: 'sox' | 'rec' | 'arecord';
    device?: string | null;
    /** 'wav' (the default) prepends a 44-byte header; kws always asks for 'raw'. */
    audioType?: 'wav' | 'raw';
    threshold?: number;
    endOnSilence?: boolean;
  }

  export interface Recording {
    readonly process: ChildProcess;
    stream(): Readable;
    stop(): void;
    pause(): void;
    resume(): void;
    isPaused(): boolean;
  }

  export function record(options?: RecordOptions): Recording;
}
