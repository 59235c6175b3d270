"""Perturbed copies of a cut set: speed, volume, additive noise, simulated reverberation, telephone band, random EQ.

Every perturbation is a lazy lhotse ``AudioTransform`` recorded in the copy's
``Recording.transforms``: the manifest grows, the disk does not, and the
audio is perturbed whenever it is read (``python -m blasr.features`` reads it
through ``cut.load_audio()``). Speed and volume are lhotse's own transforms
(``Speed``, ``Volume``); noise, babble, reverberation, the telephone band and
the random equaliser are :mod:`blasr.features.transforms` (generated noise and simulated rooms: no
download, no torchaudio).

:func:`perturb_cuts` makes the copies. Kaldi's conventions: speed copies as
``utils/data/perturb_data_dir_speed_3way.sh`` (factors 0.9 / 1.0 / 1.1, the
prefix ``sp<factor>-`` on utterance, recording and speaker ids, the 1.0 copy
included); volume in place on every copy as ``perturb_data_dir_volume.sh``
(a gain uniform in [0.125, 2], no id change); augmented copies with a prefix
per kind (``noise-``, ``babble-``, ``reverb-``, ``tel-``, ``eq-``) and the speaker
kept, as ``steps/data/augment_data_dir.py`` and ``reverberate_data_dir.py``
do. Every random draw comes from a generator seeded by ``(seed, kind, the
copy's recording id)``, so the copies do not depend on the order or the number
of cuts, and the cuts of one recording share its perturbation (Kaldi perturbs
``wav.scp``). Each copy records what was done in ``cut.custom["perturbation"]``
(its source cut, the factor, gain, SNR, T60 ...; ``clean``: the copy an
augmented copy was made from).

Speed copies change the length: their frame targets come from a new
alignment of the copies (Kaldi's way; never stretch an alignment). The other
copies keep every sample's position: :func:`with_clean_alignments` gives them
their clean copy's alignment (or align them too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from lhotse import CutSet, MonoCut
from lhotse.utils import fastcopy

from blasr.features.extract import open_cuts
from blasr.features.report import StageReport
from blasr.features.transforms import NOISE_COLORS, AdditiveNoise, Equalizer, Reverb, Telephone
from blasr.utils.files import atomic_write_text

logger = logging.getLogger("blasr")

KALDI_SPEEDS = (0.9, 1.0, 1.1)  # perturb_data_dir_speed_3way.sh
KALDI_VOLUME = (0.125, 2.0)  # perturb_data_dir_volume.sh --scale-low / --scale-high
AUGMENTATIONS = ("noise", "babble", "reverb", "telephone", "eq")
PREFIXES = {"noise": "noise-", "babble": "babble-", "reverb": "reverb-", "telephone": "tel-", "eq": "eq-"}
MANIFEST = "cuts.jsonl.gz"
REPORT = "perturb.report.json"
SETTINGS = "perturb.json"


# -- making the copies -----------------------------------------------------------------------


@dataclass
class PerturbOptions:
    """What :func:`perturb_cuts` makes (defaults: Kaldi's 3-way speed perturbation alone).

    * ``speeds``: one copy per factor, ids prefixed ``sp<factor>-`` (``(1.0,)``:
      no speed copies, ids unchanged).
    * ``volume``: ``(low, high)`` gain range applied in place to every copy
      (Kaldi: 0.125 .. 2), or ``None``.
    * ``augment``: kinds of :data:`AUGMENTATIONS`; ``augment_copies="each"``
      makes one copy of every speed copy per kind, ``"one"`` one copy with a
      kind drawn per recording.
    * ``noise_snr``, ``babble_snr`` (dB), ``babble_speakers``: ranges drawn
      uniformly (Kaldi's MUSAN recipes use noise SNRs 0-15 dB and babble of
      3-7 speakers at 13-20 dB); ``babble_pool``: the first cuts of the input
      that babble is made from (other speakers than the copy's when possible).
    * ``reverb_t60`` (s), ``reverb_drr`` (dB): uniform ranges of the simulated rooms.
    * ``telephone_band``: Hz, or ``None`` for the 8 kHz round trip alone; ``telephone_mulaw``.
    * ``eq_bands``: how many peaking filters a random-EQ copy has, their centres
      log-uniform in ``eq_freq`` (Hz, kept below the Nyquist frequency), gains
      uniform in ``eq_gain`` (dB) and Q log-uniform in ``eq_q``.
    """

    speeds: tuple = KALDI_SPEEDS
    volume: tuple | None = None
    augment: tuple = ()
    augment_copies: str = "each"
    noise_snr: tuple = (0.0, 15.0)
    babble_snr: tuple = (13.0, 20.0)
    babble_speakers: tuple = (3, 7)
    babble_pool: int = 1000
    reverb_t60: tuple = (0.2, 0.8)
    reverb_drr: tuple = (-3.0, 10.0)
    telephone_band: tuple | None = (300.0, 3400.0)
    telephone_mulaw: bool = False
    eq_bands: tuple = (3, 6)
    eq_freq: tuple = (100.0, 7000.0)
    eq_gain: tuple = (-12.0, 12.0)
    eq_q: tuple = (0.5, 3.0)
    seed: int = 0

    def check(self) -> None:
        if not self.speeds or any(not 0 < f for f in self.speeds) or len(set(self.speeds)) != len(self.speeds):
            raise ValueError(f"speeds must be distinct positive factors, got {self.speeds}")
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; choose from {AUGMENTATIONS}")
        if self.augment_copies not in ("each", "one"):
            raise ValueError(f"augment_copies must be 'each' or 'one', got {self.augment_copies!r}")
        for name in ("volume", "noise_snr", "babble_snr", "babble_speakers", "reverb_t60", "reverb_drr",
                     "telephone_band", "eq_bands", "eq_freq", "eq_gain", "eq_q"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"{name} must be a range (low, high) with low <= high, got {value}")
        if self.volume is not None and self.volume[0] <= 0:
            raise ValueError(f"volume gains must be positive, got {self.volume}")
        if self.reverb_t60[0] <= 0:
            raise ValueError(f"reverb_t60 must be positive, got {self.reverb_t60}")
        if self.eq_bands[0] < 1 or self.eq_freq[0] <= 0 or self.eq_q[0] <= 0:
            raise ValueError(f"eq needs at least one band, positive centres and Q, got {self.eq_bands}, "
                             f"{self.eq_freq}, {self.eq_q}")
        if self.babble_speakers[0] < 1:
            raise ValueError(f"babble needs at least one speaker, got {self.babble_speakers}")
        if self.telephone_band is not None and not 0 < self.telephone_band[0] < self.telephone_band[1] < 4000:
            raise ValueError(f"telephone_band must lie within (0, 4000) Hz, got {self.telephone_band}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def perturb_cuts(cuts, options: PerturbOptions | None = None) -> tuple[CutSet, StageReport]:
    """The perturbed copies of ``cuts`` (a CutSet or a manifest path), in memory, with a report.

    See :func:`iter_perturbed`; :func:`write_perturbed` streams them to a file instead.
    """
    report = StageReport("perturb")
    copies = CutSet.from_cuts(list(iter_perturbed(cuts, options, report)))
    return copies, report


def iter_perturbed(cuts, options: PerturbOptions | None, report: StageReport):
    """The copies of ``cuts`` one by one, in input order; ``report`` counts them (when the iteration ends).

    Per input cut: its speed copies (``options.speeds``; the gain of
    ``options.volume`` applied to each), then the augmented copies of each
    speed copy. Stored features and targets are dropped (they belong to the
    unperturbed audio). A cut that is not a :class:`MonoCut` with a recording
    is skipped and reported.
    """
    options = options or PerturbOptions()
    options.check()
    pool = _babble_pool(cuts, options) if "babble" in options.augment else []
    kinds, seconds = Counter(), 0.0
    for cut in open_cuts(cuts):
        if not isinstance(cut, MonoCut) or not cut.has_recording:
            report.skip(cut.id, f"unsupported cut: a {type(cut).__name__} without one recording cannot be perturbed")
            continue
        cut = _without_features(cut)
        for factor in options.speeds:
            copy = speed_copy(cut, factor) if tuple(options.speeds) != (1.0,) else _record(cut, cut)
            if options.volume is not None:
                copy = volume_copy(copy, _rng(options.seed, "volume", copy.recording_id).uniform(*options.volume))
            for made in (copy, *(augmented_copy(copy, kind, options, pool) for kind in _kinds(copy, options))):
                kinds[made.custom["perturbation"].get("kind", "clean")] += 1
                seconds += made.duration
                yield made
    report.kept = sum(kinds.values())
    report.stats.update({f"copies_{kind}": count for kind, count in kinds.items()})
    report.stats["hours"] = seconds / 3600


def write_perturbed(cuts, out_dir: str | os.PathLike, options: PerturbOptions | None = None,
                    overwrite: bool = False) -> tuple[Path, StageReport]:
    """The copies of :func:`iter_perturbed` streamed to ``out_dir``: ``cuts.jsonl.gz``, ``perturb.json``
    (the options), ``perturb.report.json``, and Kaldi's ``text`` and ``utt2spk`` of the copies (sorted; as
    ``perturb_data_dir_speed.sh`` writes them: a perturbed dev set is scored against its ``text``). ``text`` is
    left out when a copy has no transcript, ``utt2spk`` when one has no speaker.

    A completed directory (``.completed``) with the same options is reused unless ``overwrite``.
    """
    options = options or PerturbOptions()
    options.check()
    out_dir = Path(out_dir)
    manifest, settings, done = out_dir / MANIFEST, out_dir / SETTINGS, out_dir / ".completed"
    if not overwrite and done.is_file() and settings.is_file() and settings.read_text() == options.to_json():
        logger.info("perturbed cuts in %s are complete with these options; not remaking them", out_dir)
        return manifest, StageReport("perturb", stats={"reused": 1})
    out_dir.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    report = StageReport("perturb")
    kaldi: dict[str, dict[str, str] | None] = {"text": {}, "utt2spk": {}}
    with CutSet.open_writer(manifest) as writer:
        for copy in iter_perturbed(cuts, options, report):
            writer.write(copy)
            _kaldi_lines(copy, kaldi)
    for name, lines in kaldi.items():
        path = out_dir / name
        if lines is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_text(path, "".join(f"{utt} {value}".rstrip() + "\n" for utt, value in sorted(lines.items())))
    settings.write_text(options.to_json())
    report.save(out_dir / REPORT)
    report.log()
    if report.kept == 0:
        raise ValueError(f"no cut of {cuts} could be perturbed ({report.num_skipped} skipped)")
    done.write_text("")
    return manifest, report


def _kaldi_lines(cut: MonoCut, kaldi: dict[str, dict[str, str] | None]) -> None:
    """Add ``cut``'s ``text`` (its supervisions' texts in order) and ``utt2spk`` lines; a file that a cut cannot
    fill becomes ``None`` (not written)."""
    texts = [s.text for s in cut.supervisions]
    speakers = {s.speaker for s in cut.supervisions}
    for name, value in (("text", None if not texts or None in texts else " ".join(texts)),
                        ("utt2spk", next(iter(speakers)) if len(speakers) == 1 else None)):
        lines = kaldi[name]
        if lines is not None:
            if value is None:
                kaldi[name] = None
            else:
                lines[cut.id] = value


def speed_copy(cut: MonoCut, factor: float) -> MonoCut:
    """Kaldi's speed-perturbed copy: lhotse's lazy ``Speed``, ``sp<factor>-`` on cut, recording, supervision and
    speaker ids (``utils/data/perturb_data_dir_speed.sh``); ``num_samples = round(N / factor)`` (lhotse's rounding)."""
    prefix = f"sp{factor}-"
    perturbed = cut.perturb_speed(factor, affix_id=False)
    recording = fastcopy(perturbed.recording, id=prefix + cut.recording.id)
    supervisions = [
        fastcopy(s, id=prefix + s.id, recording_id=recording.id,
                 speaker=prefix + s.speaker if s.speaker is not None else None)
        for s in perturbed.supervisions
    ]
    return _record(fastcopy(perturbed, id=prefix + cut.id, recording=recording, supervisions=supervisions),
                   cut, speed=factor)


def volume_copy(cut: MonoCut, gain: float) -> MonoCut:
    """``cut`` with its audio multiplied by ``gain`` (lhotse's lazy ``Volume``), ids unchanged (Kaldi does so)."""
    recording = cut.recording.perturb_volume(float(gain), affix_id=False)
    return _record(fastcopy(cut, recording=recording), cut, gain=float(gain))


def augmented_copy(cut: MonoCut, kind: str, options: PerturbOptions, pool: list | None = None) -> MonoCut:
    """A copy of ``cut`` with one augmentation of :data:`AUGMENTATIONS`, ids prefixed by :data:`PREFIXES`."""
    rng = _rng(options.seed, kind, cut.recording_id)
    seed = int(rng.integers(2**31))
    if kind == "noise":
        color = NOISE_COLORS[int(rng.integers(len(NOISE_COLORS)))]
        transform = AdditiveNoise(snr_db=float(rng.uniform(*options.noise_snr)), seed=seed, color=color)
        details = {"color": color, "snr_db": transform.snr_db}
    elif kind == "babble":
        sources = _babble_sources(cut, pool or [], options, rng)
        transform = AdditiveNoise(snr_db=float(rng.uniform(*options.babble_snr)), seed=seed, color="babble",
                                  babble=sources)
        details = {"snr_db": transform.snr_db, "babble": [s["cut"] for s in sources]}
        for source in sources:
            del source["cut"]
    elif kind == "reverb":
        transform = Reverb(t60=float(rng.uniform(*options.reverb_t60)), drr_db=float(rng.uniform(*options.reverb_drr)),
                           seed=seed)
        details = {"t60": transform.t60, "drr_db": transform.drr_db}
    elif kind == "telephone":
        band = list(options.telephone_band) if options.telephone_band is not None else None
        transform = Telephone(band=band, mulaw=options.telephone_mulaw)
        details = {"band": band, "mulaw": options.telephone_mulaw}
    elif kind == "eq":
        count = int(rng.integers(options.eq_bands[0], options.eq_bands[1] + 1))
        low, high = np.log(options.eq_freq[0]), np.log(min(options.eq_freq[1], 0.45 * cut.sampling_rate))
        bands = [[float(np.exp(rng.uniform(low, max(low, high)))), float(rng.uniform(*options.eq_gain)),
                  float(np.exp(rng.uniform(*np.log(options.eq_q))))] for _ in range(count)]
        transform = Equalizer(bands=bands)
        details = {"bands": bands}
    else:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {AUGMENTATIONS}")
    prefix = PREFIXES[kind]
    recording = fastcopy(cut.recording, id=prefix + cut.recording.id,
                         transforms=[*(cut.recording.transforms or []), transform])
    supervisions = [fastcopy(s, id=prefix + s.id, recording_id=recording.id) for s in cut.supervisions]
    copy = fastcopy(cut, id=prefix + cut.id, recording=recording, supervisions=supervisions)
    return _record(copy, cut, kind=kind, clean=cut.id, **details)


def with_clean_alignments(cuts, alignments: Mapping[str, np.ndarray]) -> tuple[dict, int]:
    """``alignments`` in which every augmented copy of ``cuts`` gets the alignment of the clean copy it was made from.

    Noise, babble, reverberation and the telephone band keep every sample in
    place, so the clean copy's frames are the augmented copy's frames, and
    Kaldi's multi-condition recipes train the augmented copies on the clean
    alignments (an alignment of the noisy audio itself, when there is one, is
    replaced). Speed copies have their own length and keep their own. Returns
    the mapping and how many augmented copies got a clean alignment.
    """
    result, copied = dict(alignments), 0
    for cut in open_cuts(cuts):
        clean = (cut.custom or {}).get("perturbation", {}).get("clean")
        if clean is not None and clean in alignments:
            result[cut.id] = alignments[clean]
            copied += 1
    return result, copied


def _record(copy: MonoCut, base: MonoCut, **what) -> MonoCut:
    """``copy`` (made from ``base``) with ``custom["perturbation"]``: ``base``'s record, its source, ``what``."""
    info = dict((base.custom or {}).get("perturbation", {}))
    info.setdefault("source", base.id)  # the input cut every copy descends from
    info.update(what)
    return copy.with_custom("perturbation", info)


def _without_features(cut: MonoCut) -> MonoCut:
    custom = {k: v for k, v in (cut.custom or {}).items() if k != "targets"} or None
    return fastcopy(cut, features=None, custom=custom)


def _kinds(cut: MonoCut, options: PerturbOptions) -> list[str]:
    if not options.augment:
        return []
    if options.augment_copies == "each":
        return list(options.augment)
    rng = _rng(options.seed, "kind", cut.recording_id)
    return [options.augment[int(rng.integers(len(options.augment)))]]


def _rng(seed: int, kind: str, key: str) -> np.random.Generator:
    """A generator that depends only on ``(seed, kind, key)`` (not on Python's salted ``hash``)."""
    digest = hashlib.sha256(f"{kind}\t{key}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _babble_pool(cuts, options: PerturbOptions) -> list[MonoCut]:
    pool = []
    for cut in open_cuts(cuts):
        if isinstance(cut, MonoCut) and cut.has_recording:
            pool.append(_without_features(cut))
            if len(pool) >= options.babble_pool:
                break
    return pool


def _babble_sources(cut: MonoCut, pool: list[MonoCut], options: PerturbOptions, rng: np.random.Generator) -> list:
    """Other utterances for babble: of other speakers when the pool has enough, never the cut's own source."""
    source_id = (cut.custom or {}).get("perturbation", {}).get("source", cut.id)
    speaker = cut.supervisions[0].speaker if cut.supervisions else None
    same_rate = [c for c in pool if c.id != source_id and c.sampling_rate == cut.sampling_rate]
    others = [c for c in same_rate if not c.supervisions or c.supervisions[0].speaker not in (speaker, None)
              or speaker is None]
    low, high = options.babble_speakers
    count = int(rng.integers(low, high + 1))
    candidates = others if len(others) >= count else same_rate
    if not candidates:
        raise ValueError(f"{cut.id}: no other utterance at {cut.sampling_rate} Hz to make babble from")
    chosen = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    return [{"cut": candidates[i].id, "recording": candidates[i].recording.to_dict(), "start": candidates[i].start,
             "duration": candidates[i].duration, "channel": candidates[i].channel} for i in sorted(chosen)]
