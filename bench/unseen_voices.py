#!/usr/bin/env python3
"""Builds a keyword test set from voices and noises that ../shared/datasets/keywords-train lacks.

The shared dataset's README says its separate evaluation data uses "other voices (other espeak-ng
base voices and variants, another festival voice and another flite voice) and other noise
material". A speaker-disjoint split of the shared folder can only hold out voices that the
folder has, all of them mixed with the same five noise kinds. This script makes clips the way
that README describes (one word per clip, random rate and pitch, mild EQ or reverb, peak level
-30..-3 dBFS at a random offset, noise at 5-40 dB SNR), but from:

- voices the shared folder does not have: flite `rms`, festival `ked_diphone`, and the espeak-ng
  base voices `en-029`, `en-gb-x-gbcwmd` and `en-us-nyc` with variants the folder does not use;
- noise material it does not have: babble (several synthetic talkers reading sentences with none
  of the words), a machine (band-limited noise with a slow swell and motor tones), music-like
  tone chords, and crackle (random clicks over light hiss).

It is a measuring instrument only; nothing here trains a model. It needs Debian's flite,
festival, festvox-kdlpc16k, espeak-ng and sox, and numpy:

    apt-get install flite festival festvox-kdlpc16k espeak-ng sox
    python3 bench/unseen_voices.py --out /tmp/unseen --seed 7
    kws evaluate --model models/NAME --data /tmp/unseen

The output has one folder per label and a manifest.csv (file,label,voice,noise,snr_db,fx,word) in
the shared dataset's layout, so `kws evaluate` reads it as it is.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import wave

import numpy as np

RATE = 16000
CLIP = 16000
KEYWORDS = ["yes", "no", "stop", "go"]
UNKNOWN_WORDS = ("left right up down on off house bird seven happy tree wow dog cat marvin sheila bed four five "
                 "nine zero one two three six eight learn follow forward visual backward hello water paper green "
                 "little open window morning music").split()
# Variants espeak-ng 1.51 ships that the shared folder does not use (its README lists those it does).
NEW_VARIANTS = ["Andrea", "Andy", "Gene", "Gene2", "Henrique", "Marco", "f4", "f5", "m6", "m7", "m8", "miguel",
                "pedro", "robert", "shelby", "steph", "steph2", "steph3", "victor"]
NEW_ESPEAK_BASES = ["en-029", "en-gb-x-gbcwmd", "en-us-nyc"]
# Sentences for the babble noise: none holds a keyword or an _unknown_ word.
BABBLE_TEXT = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
]


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace')[-400:]}")
    return r


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != RATE:
            raise RuntimeError(f"{path}: expected 16-bit mono {RATE} Hz")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0


def write_wav(path, x):
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def synthesise(voice, text, rate, pitch, tmp, rng):
    """Returns (samples at 16 kHz, pitch description) for one utterance, before any effects."""
    raw = os.path.join(tmp, "raw.wav")
    engine, name = voice.split(":", 1)
    shift = 0.0
    if engine == "espeak-ng":
        run(["espeak-ng", "-v", name, "-s", str(int(175 * rate)), "-p", str(pitch), "-w", raw, text])
        desc = f"p{pitch}"
    elif engine == "flite":
        run(["flite", "-voice", name, "--setf", f"duration_stretch={1 / rate:.3f}", "-t", text, "-o", raw])
        shift = pitch
        desc = f"{shift:+.1f}st"
    else:
        txt = os.path.join(tmp, "t.txt")
        with open(txt, "w") as f:
            f.write(text + "\n")
        run(["text2wave", "-eval", f"(voice_{name})", "-eval", f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})",
             "-eval", f"(set! int_lr_params '((target_f0_mean {pitch}) (target_f0_std 15) (model_f0_mean 170) (model_f0_std 34)))",
             "-o", raw, txt])
        desc = f"f0={pitch}Hz"
    out = os.path.join(tmp, "16k.wav")
    effects = ["pitch", f"{shift * 100:.0f}"] if shift != 0 else []
    run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", out] + effects + ["rate", str(RATE)])
    return read_wav(out), desc


def trim(x, below_db=45.0):
    peak = np.max(np.abs(x))
    if peak <= 0:
        return x[:0]
    idx = np.nonzero(np.abs(x) >= peak * 10 ** (-below_db / 20))[0]
    return x[idx[0]: idx[-1] + 1]


def random_fx(rng):
    """The README's mild EQ (about 35 %) or reverb (about 30 %), as sox effect arguments."""
    u = rng.random()
    if u < 0.35:
        kind = rng.integers(0, 6)
        if kind == 0:
            return ["highpass", str(int(rng.uniform(100, 400)))]
        if kind == 1:
            return ["lowpass", str(int(rng.uniform(3000, 7000)))]
        if kind == 2:
            return ["equalizer", str(int(rng.uniform(300, 4000))), "1q", f"{rng.uniform(-6, 6):.1f}"]
        if kind == 3:
            return ["sinc", "300-3400"]
        if kind == 4:
            return ["bass", f"{rng.uniform(-6, 6):.1f}"]
        return ["treble", f"{rng.uniform(-6, 6):.1f}"]
    if u < 0.65:
        return ["reverb", str(int(rng.uniform(10, 50))), "50", str(int(rng.uniform(10, 60)))]
    return []


def apply_sox(x, effects, tmp):
    if not effects:
        return x
    a, b = os.path.join(tmp, "fx_in.wav"), os.path.join(tmp, "fx_out.wav")
    write_wav(a, x / max(1.0, np.max(np.abs(x)) * 1.01))
    run(["sox", a, b] + effects)
    return read_wav(b)


# ---- noise material the shared folder does not have -------------------------------------------

def colored(rng, n, slope):
    """Noise whose power falls as f^slope (0 white, -1 pink, -2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (slope / 2)
    y = np.fft.irfft(spec, n)
    return y / (np.std(y) + 1e-12)


def babble_bed(rng, tmp, seconds=40.0):
    voices = ["espeak-ng:en-us+m7", "espeak-ng:en-029+f5", "espeak-ng:en-gb-x-gbcwmd+Gene", "flite:rms",
              "espeak-ng:en-us-nyc+steph", "festival:ked_diphone"]
    bed = np.zeros(int(seconds * RATE))
    for v in voices:
        pos = int(rng.uniform(0, RATE))
        while pos < len(bed):
            text = BABBLE_TEXT[rng.integers(0, len(BABBLE_TEXT))]
            y, _ = synthesise(v, text, rng.uniform(0.9, 1.2), 110 if v.startswith("festival") else (0.0 if v.startswith("flite") else 50), tmp, rng)
            y = y / (np.std(y) + 1e-12)
            end = min(len(bed), pos + len(y))
            bed[pos:end] += y[: end - pos]
            pos = end + int(rng.uniform(0.05, 0.4) * RATE)
    return bed / (np.std(bed) + 1e-12)


def machine(rng, n):
    base = colored(rng, n, rng.uniform(-2.0, -0.5))
    lo = rng.uniform(80, 600)
    spec = np.fft.rfft(base)
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec *= np.exp(-0.5 * (np.log(np.maximum(f, 1) / lo) / 0.8) ** 2)
    y = np.fft.irfft(spec, n)
    y /= np.std(y) + 1e-12
    t = np.arange(n) / RATE
    motor = rng.uniform(90, 420)
    for h in range(1, 4):
        y += rng.uniform(0.1, 0.5) / h * np.sin(2 * np.pi * motor * h * t * (1 + 0.01 * np.sin(2 * np.pi * 0.7 * t)) + rng.uniform(0, 6.3))
    swell = 1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6.3))
    return y * swell


def music(rng, n):
    y = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.2, 0.5) * RATE)
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        t = np.arange(length) / RATE
        env = np.minimum(1, t / 0.01) * np.exp(-t * rng.uniform(1, 5))
        note = np.zeros(length)
        for interval in (0, 4, 7):
            f0 = root * 2 ** (interval / 12)
            for h in range(1, 5):
                note += np.sin(2 * np.pi * f0 * h * t) / h ** 1.5
        end = min(n, pos + length)
        y[pos:end] += (note * env)[: end - pos]
        pos = end
    return y


def crackle(rng, n):
    y = 0.05 * rng.standard_normal(n)
    clicks = rng.random(n) < rng.uniform(0.0005, 0.004)
    y[clicks] += rng.uniform(-1, 1, clicks.sum()) * 8
    kernel = np.exp(-np.arange(40) / 6.0)
    return np.convolve(y, kernel, mode="same")


def hum(rng, n, mains):
    t = np.arange(n) / RATE
    y = np.zeros(n)
    for h in range(1, 8):
        y += rng.uniform(0, 1) / h * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3))
    return y


def recording_slice(rng, recordings):
    rec = recordings[rng.integers(0, len(recordings))]
    start = int(rng.integers(0, max(1, len(rec) - CLIP)))
    y = rec[start: start + CLIP]
    return np.pad(y, (0, CLIP - len(y)))


def noise_clip(rng, babble, kinds, recordings=None):
    parts = []
    for kind in kinds:
        if kind == "recording":
            y = recording_slice(rng, recordings)
        elif kind in ("white", "pink", "brown"):
            y = colored(rng, CLIP, {"white": 0.0, "pink": -1.0, "brown": -2.0}[kind])
        elif kind in ("hum50", "hum60"):
            y = hum(rng, CLIP, 50 if kind == "hum50" else 60)
        elif kind == "babble":
            start = int(rng.uniform(0, len(babble) - CLIP))
            y = babble[start: start + CLIP].copy()
        elif kind == "machine":
            y = machine(rng, CLIP)
        elif kind == "music":
            y = music(rng, CLIP)
        else:
            y = crackle(rng, CLIP)
        parts.append(y / (np.sqrt(np.mean(y ** 2)) + 1e-12) * rng.uniform(0.3, 1.0))
    y = np.sum(parts, axis=0)
    return y / (np.sqrt(np.mean(y ** 2)) + 1e-12)


NEW_NOISE = ["babble", "machine", "music", "crackle"]
# The shared folder's own noise kinds, for a control set that changes only the voices.
SEEN_NOISE = ["white", "pink", "brown", "hum50", "hum60"]


def draw_noise_kinds(rng, pool):
    if pool == ["recording"]:
        return pool
    kinds = [pool[rng.integers(0, len(pool))]]
    if rng.random() < 0.25:
        other = pool[rng.integers(0, len(pool))]
        if other not in kinds:
            kinds.append(other)
    return kinds


def load_recordings(folder, tmp):
    """Every audio file under `folder` that sox can read, as 16 kHz mono, at least 1 s long."""
    out = []
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            src = os.path.join(root, name)
            dst = os.path.join(tmp, "rec.wav")
            try:
                run(["sox", src, "-r", str(RATE), "-c", "1", "-b", "16", dst])
            except RuntimeError:
                continue
            y = read_wav(dst)
            if len(y) >= CLIP and np.std(y) > 1e-4:
                out.append(y)
    if not out:
        sys.exit(f"unseen_voices: no audio file of 1 s or more under {folder}")
    return out


def speech_voices(rng, espeak_count):
    voices = ["flite:rms", "festival:ked_diphone"]
    for i in range(espeak_count):
        base = NEW_ESPEAK_BASES[i % len(NEW_ESPEAK_BASES)]
        voices.append(f"espeak-ng:{base}+{NEW_VARIANTS[rng.integers(0, len(NEW_VARIANTS))]}")
    return voices


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder to create (must not exist)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-large-voice", type=int, default=100, help="clips for flite rms and for festival ked each")
    ap.add_argument("--espeak-clips", type=int, default=300, help="clips from the new espeak-ng voices")
    ap.add_argument("--background", type=int, default=60, help="noise-only clips")
    ap.add_argument("--noise", default="new",
                    help="new (babble, machine, music, crackle), seen (the shared folder's white/pink/brown/hum, "
                         "a control that changes only the voices), or a folder of recordings")
    args = ap.parse_args()
    for tool in ("flite", "text2wave", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"unseen_voices: {tool} is not installed; apt-get install flite festival festvox-kdlpc16k espeak-ng sox")
    if os.path.exists(args.out):
        sys.exit(f"unseen_voices: {args.out} exists; choose a new folder")
    rng = np.random.default_rng(args.seed)
    labels = KEYWORDS + ["_unknown_"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        recordings = None
        if args.noise == "new":
            pool = NEW_NOISE
        elif args.noise == "seen":
            pool = SEEN_NOISE
        else:
            pool = ["recording"]
            recordings = load_recordings(args.noise, tmp)
        babble = babble_bed(rng, tmp) if "babble" in pool else None
        os.makedirs(args.out)
        for label in labels + ["_background_"]:
            os.makedirs(os.path.join(args.out, label))
        jobs = [("flite:rms", args.per_large_voice), ("festival:ked_diphone", args.per_large_voice)]
        espeak = speech_voices(rng, args.espeak_clips)[2:]
        jobs += [(v, 1) for v in espeak]
        count = {l: 0 for l in labels + ["_background_"]}
        made = 0
        total = sum(n for _, n in jobs)
        for voice, n in jobs:
            for _ in range(n):
                label = labels[rng.integers(0, len(labels))]
                word = label if label != "_unknown_" else UNKNOWN_WORDS[rng.integers(0, len(UNKNOWN_WORDS))]
                for _attempt in range(5):
                    text = word.capitalize() if rng.random() < 0.3 else word
                    text += ["", ".", "!", "?"][rng.integers(0, 4)]
                    rate = rng.uniform(0.75, 1.3)
                    if voice.startswith("espeak-ng"):
                        pitch = int(rng.integers(10, 90))
                    elif voice.startswith("flite"):
                        pitch = round(rng.uniform(-3, 3), 1)
                    else:
                        pitch = int(rng.uniform(80, 160))
                    y, pitch_desc = synthesise(voice, text, rate, pitch, tmp, rng)
                    fx = random_fx(rng)
                    y = trim(apply_sox(y, fx, tmp))
                    fx_desc = f"{fx[0]}({','.join(fx[1:])})" if fx else ""
                    if len(y) > 0.95 * RATE:
                        factor = len(y) / (0.9 * RATE)
                        if factor > 1.6:
                            continue
                        y = trim(apply_sox(y, ["tempo", f"{factor:.4f}"], tmp))
                        fx_desc += f"{' ' if fx_desc else ''}tempo({factor:.3f})"
                    if len(y) > 0:
                        break
                else:
                    continue
                level = rng.uniform(-30, -3)
                y = y / np.max(np.abs(y)) * 10 ** (level / 20)
                margin = int(0.01 * RATE)
                offset = int(rng.integers(margin, CLIP - margin - len(y) + 1))
                speech = np.zeros(CLIP)
                speech[offset: offset + len(y)] = y
                kinds = draw_noise_kinds(rng, pool)
                snr = rng.uniform(5, 40)
                speech_rms = np.sqrt(np.mean(y ** 2))
                clip = speech + noise_clip(rng, babble, kinds, recordings) * speech_rms / 10 ** (snr / 20)
                clip /= max(1.0, np.max(np.abs(clip)) / 0.99)
                count[label] += 1
                rel = f"{label}/{label}_{count[label]:04d}.wav"
                write_wav(os.path.join(args.out, rel), clip)
                rows.append(dict(file=rel, label=label, voice=voice, noise="+".join(kinds), snr_db=f"{snr:.1f}",
                                 fx=fx_desc, word=word, pitch=pitch_desc, rate=f"{rate:.3f}", level_dbfs=f"{level:.1f}",
                                 offset_ms=f"{offset / RATE * 1000:.1f}", dur_ms=f"{len(y) / RATE * 1000:.1f}"))
                made += 1
                if made % 50 == 0:
                    print(f"unseen_voices: {made}/{total} speech clips", file=sys.stderr)
        for _ in range(args.background):
            kinds = draw_noise_kinds(rng, pool)
            y = noise_clip(rng, babble, kinds, recordings) * 10 ** (rng.uniform(-70, -20) / 20)
            y /= max(1.0, np.max(np.abs(y)) / 0.99)
            count["_background_"] += 1
            rel = f"_background_/_background__{count['_background_']:04d}.wav"
            write_wav(os.path.join(args.out, rel), y)
            rows.append(dict(file=rel, label="_background_", voice="", noise="+".join(kinds), snr_db="", fx="", word="",
                             pitch="", rate="", level_dbfs="", offset_ms="", dur_ms=""))
    with open(os.path.join(args.out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print(f"unseen_voices: wrote {len(rows)} clips to {args.out} ({', '.join(f'{k} {v}' for k, v in count.items())})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
