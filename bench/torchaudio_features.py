#!/usr/bin/python3
"""Reference timing: torchaudio 0.13 computing the same features as kws, single-threaded.

Run with Debian's /usr/bin/python3 (the one with python3-torch/python3-torchaudio).
Prints one JSON object on stdout. Features are the original's librosa defaults:
n_fft 2048, hop 512, periodic Hann, 128 Slaney mel bands with Slaney norm, power 2,
dB with amin 1e-10 and top_db 80 (ref 1.0 for MFCC, ref max for log-mel), ortho DCT.

Usage: /usr/bin/python3 bench/torchaudio_features.py [--clips 600] [--stream-seconds 600]
"""
import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=600)
    ap.add_argument("--stream-seconds", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    try:
        import torch
        import torchaudio
    except ImportError as e:  # the kws bench reports this and skips the reference
        print(json.dumps({"skipped": f"torch/torchaudio not importable: {e}"}))
        return 0
    torch.set_num_threads(1)
    sr = 16000
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=2048, win_length=2048, hop_length=512, f_min=0.0, f_max=8000.0,
        n_mels=128, window_fn=torch.hann_window, power=2.0, center=True, pad_mode="reflect",
        norm="slaney", mel_scale="slaney")
    mfcc = torchaudio.transforms.MFCC(
        sample_rate=sr, n_mfcc=40, dct_type=2, norm="ortho", log_mels=False,
        melkwargs=dict(n_fft=2048, win_length=2048, hop_length=512, f_min=0.0, f_max=8000.0,
                       n_mels=128, window_fn=torch.hann_window, power=2.0, center=True,
                       pad_mode="reflect", norm="slaney", mel_scale="slaney"))
    # torchaudio's MFCC uses top_db=80 and ref 1.0 (amplitude_to_DB with db_multiplier 0), as librosa.

    def logmel(x: "torch.Tensor") -> "torch.Tensor":
        m = mel(x)
        ref = torch.clamp(m.max(), min=1e-10)
        return torchaudio.functional.amplitude_to_DB(m, 10.0, 1e-10, float(torch.log10(ref)), 80.0)

    gen = torch.Generator().manual_seed(1)
    clips = [0.1 * torch.randn(sr, generator=gen) for _ in range(args.clips)]
    stream = 0.1 * torch.randn(sr * args.stream_seconds, generator=gen)
    results = {"torch": torch.__version__, "torchaudio": torchaudio.__version__, "threads": torch.get_num_threads()}
    with torch.inference_mode():
        for name, fn in (("mfcc", mfcc), ("logmel", logmel)):
            fn(clips[0])  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for c in clips:
                    fn(c)
                best = min(best, time.perf_counter() - t0)
            results[f"{name}_clips_x_realtime"] = args.clips / best
            results[f"{name}_clips_ms_per_clip"] = 1000 * best / args.clips
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn(stream)
                best = min(best, time.perf_counter() - t0)
            results[f"{name}_stream_x_realtime"] = args.stream_seconds / best
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
