"""Built-in speech: eSpeak NG (from the espeakng-loader wheel) driven through ctypes.

A *speaker* is an eSpeak voice (an English accent) plus a voice variant (m1, f3, klatt, ...)
plus pitch, pitch range and rate settings. ``speaker_split`` hands out (voice, variant) pairs
so that the test speakers' pairs never occur in training: a test speaker differs from every
training speaker in accent or variant, not only in pitch.

eSpeak keeps global state and is not thread-safe, so every call goes through one lock, and
the library is reloaded for every utterance so that the output does not depend on what was
synthesised before (see ``_Session``).
Its output (22050 Hz int16) is resampled to 16 kHz, trimmed of leading and trailing silence
and returned as float32 in [-1, 1].
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import SAMPLE_RATE, resample

# eSpeak NG API constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4
_ESPEAK_CHARS_UTF8 = 1
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


@dataclass(frozen=True)
class Speaker:
    """One synthetic talker: eSpeak voice + variant + prosody settings."""

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


def synthesize(text: str, speaker: Speaker) -> np.ndarray:
    """Speech for ``text`` by ``speaker``: float32 mono at 16 kHz, silence trimmed."""
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


def speaker_split(rng: np.random.Generator, counts: dict[str, int]) -> dict[str, list[Speaker]]:
    """Disjoint speaker groups, e.g. {"train": 24, "test": 8, "babble": 16}: no (voice,
    variant) pair is shared between groups."""
    pairs = available_voice_pairs()
    needed = sum(counts.values())
    if needed > len(pairs):
        raise BitwaveError(
            f"{needed} distinct speakers were requested ({counts}) but this eSpeak installation "
            f"provides {len(pairs)} voice/variant pairs; ask for fewer speakers"
        )
    order = rng.permutation(len(pairs))
    groups, start = {}, 0
    for name, count in counts.items():
        chosen = [pairs[i] for i in order[start : start + count]]
        groups[name] = [random_speaker(rng, voice, variant) for voice, variant in chosen]
        start += count
    return groups
