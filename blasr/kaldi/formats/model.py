"""Kaldi's GMM acoustic model file (``final.mdl``): HMM topology, transition model, diagonal GMMs.

A GMM ``final.mdl`` is a :class:`TransitionModel` followed by an
:class:`AmDiagGmm` (``gmm-init-mono`` and every later GMM tool write
``trans_model.Write(); am_gmm.Write()``), in binary (``"\\0B"`` header) or text.
This module reads and writes both modes without Kaldi, following

* ``src/hmm/hmm-topology.cc`` (``HmmTopology::Read/Write``; text ``<Topology>``
  with ``<TopologyEntry>``, ``<ForPhones>``, ``<State>``, ``<PdfClass>`` or
  ``<ForwardPdfClass>``/``<SelfLoopPdfClass>``, ``<Transition>``; binary: phone
  list, phone-to-entry index, entries, with a leading -1 when any state has
  separate forward and self-loop pdf classes),
* ``src/hmm/transition-model.cc`` (``<TransitionModel>``, ``<Triples>`` or, for
  separate self-loop pdfs, ``<Tuples>``, ``<LogProbs>``; ``ComputeDerived``
  numbers the transition-ids and maps each to its pdf),
* the GMMs in :mod:`blasr.kaldi.formats.gmm`.

:func:`ali_to_pdf` is Kaldi's ``ali-to-pdf`` (``TransitionIdToPdf`` per frame).
The ``to_kaldi_hmm_gmm`` / ``from_kaldi_hmm_gmm`` methods convert to and from
kaldi-hmm-gmm's objects (through their pickle state), so a model read here can
be aligned or decoded with that package, and one it trained can be saved as a
Kaldi ``final.mdl``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import _kaldi_hmm_gmm
import kaldi_hmm_gmm
import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm
from blasr.kaldi.formats.io import KaldiFormatError, KaldiReader, KaldiWriter
from blasr.utils.errors import MissingKeyError

NO_PDF = -1  # Kaldi's kNoPdf: a non-emitting state


# -- HMM topology -------------------------------------------------------------------------


@dataclass
class HmmState:
    """One state of a phone's HMM: its pdf classes (``-1``: non-emitting) and ``(destination, probability)`` arcs."""

    forward_pdf_class: int = NO_PDF
    self_loop_pdf_class: int = NO_PDF
    transitions: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class HmmTopology:
    """Kaldi's ``HmmTopology``: topology entries (lists of states) and which entry each phone uses."""

    entries: list[list[HmmState]]
    phone_to_entry: dict[int, int]

    def __post_init__(self) -> None:
        self.phone_to_entry = dict(sorted(self.phone_to_entry.items()))

    @property
    def phones(self) -> list[int]:
        return list(self.phone_to_entry)

    def topology_for_phone(self, phone: int) -> list[HmmState]:
        try:
            return self.entries[self.phone_to_entry[phone]]
        except KeyError:
            raise MissingKeyError(f"phone {phone} is not in the topology") from None

    def num_pdf_classes(self, phone: int) -> int:
        states = self.topology_for_phone(phone)
        return 1 + max(max(s.forward_pdf_class, s.self_loop_pdf_class) for s in states)

    @property
    def is_hmm(self) -> bool:
        """True unless some state has different forward and self-loop pdf classes (``IsHmm``)."""
        return all(s.forward_pdf_class == s.self_loop_pdf_class for entry in self.entries for s in entry)

    def check(self, name: str = "topology") -> None:
        """The structural checks of Kaldi's ``HmmTopology::Check``, with errors naming the entry and state."""
        if not self.entries or not self.phone_to_entry:
            raise KaldiFormatError(f"{name}: empty topology")
        if min(self.phone_to_entry) <= 0:
            raise KaldiFormatError(f"{name}: phone ids must be positive (0 is epsilon)")
        for phone, index in self.phone_to_entry.items():
            if not 0 <= index < len(self.entries):
                raise KaldiFormatError(f"{name}: phone {phone} points to topology entry {index}; there are "
                                       f"{len(self.entries)}")
        used = set(self.phone_to_entry.values())
        for index, entry in enumerate(self.entries):
            where = f"{name}: topology entry {index}"
            if index not in used:
                raise KaldiFormatError(f"{where} is used by no phone")
            if len(entry) < 2:
                raise KaldiFormatError(f"{where} has {len(entry)} state(s); it needs an emitting and a final state")
            if entry[-1].transitions or entry[-1].forward_pdf_class != NO_PDF:
                raise KaldiFormatError(f"{where}: the last state must be final (non-emitting, no transitions)")
            classes = set()
            for number, state in enumerate(entry):
                if state.forward_pdf_class != NO_PDF:
                    classes.update((state.forward_pdf_class, state.self_loop_pdf_class))
                destinations = [d for d, _ in state.transitions]
                if len(set(destinations)) != len(destinations):
                    raise KaldiFormatError(f"{where}, state {number}: duplicate transition")
                for destination, prob in state.transitions:
                    if not 0 <= destination < len(entry):
                        raise KaldiFormatError(f"{where}, state {number}: transition to missing state {destination}")
                    if not prob > 0:
                        raise KaldiFormatError(f"{where}, state {number}: transition probability {prob} is not > 0")
                if number + 1 < len(entry) and not state.transitions:
                    raise KaldiFormatError(f"{where}, state {number}: a non-final state needs transitions out")
            if sorted(classes) != list(range(len(classes))):
                raise KaldiFormatError(f"{where}: pdf classes {sorted(classes)} are not 0, 1, 2, ...")

    # -- Kaldi format ------------------------------------------------------------------

    @classmethod
    def read(cls, reader: KaldiReader) -> "HmmTopology":
        reader.expect_token("<Topology>")
        topology = cls._read_binary(reader) if reader.binary else cls._read_text(reader)
        topology.check(reader.name)
        return topology

    @classmethod
    def _read_text(cls, reader: KaldiReader) -> "HmmTopology":
        entries: list[list[HmmState]] = []
        phone_to_entry: dict[int, int] = {}
        while True:
            at = reader.pos
            token = reader.read_token("<TopologyEntry> or </Topology>")
            if token == "</Topology>":
                break
            if token != "<TopologyEntry>":
                raise reader.error(f"expected <TopologyEntry> or </Topology>, found {token}", at)
            reader.expect_token("<ForPhones>")
            phones = []
            while True:
                at = reader.pos
                word = reader.read_token("</ForPhones>")
                if word == "</ForPhones>":
                    break
                try:
                    phones.append(int(word))
                except ValueError:
                    raise reader.error(f"expected a phone id or </ForPhones>, found {word}", at) from None
            entry: list[HmmState] = []
            at = reader.pos
            token = reader.read_token("<State> or </TopologyEntry>")
            while token != "</TopologyEntry>":
                if token != "<State>":
                    raise reader.error(f"expected <State> or </TopologyEntry>, found {token}", at)
                at = reader.pos
                number = reader.read_int32()
                if number != len(entry):
                    message = f"states must be numbered from 0 in order: expected {len(entry)}, found {number}"
                    raise reader.error(message, at)
                state = HmmState()
                at = reader.pos
                token = reader.read_token()
                if token == "<PdfClass>":
                    state.forward_pdf_class = state.self_loop_pdf_class = reader.read_int32()
                    at = reader.pos
                    token = reader.read_token()
                elif token == "<ForwardPdfClass>":
                    state.forward_pdf_class = reader.read_int32()
                    reader.expect_token("<SelfLoopPdfClass>")
                    state.self_loop_pdf_class = reader.read_int32()
                    at = reader.pos
                    token = reader.read_token()
                while token == "<Transition>":
                    destination = reader.read_int32()
                    state.transitions.append((destination, reader.read_float()))
                    at = reader.pos
                    token = reader.read_token()
                if token == "<Final>":
                    raise reader.error("old-style topology (<Final>): convert it with a current Kaldi", at)
                if token != "</State>":
                    raise reader.error(f"expected <Transition> or </State>, found {token}", at)
                entry.append(state)
                at = reader.pos
                token = reader.read_token()
            for phone in phones:
                if phone in phone_to_entry:
                    raise reader.error(f"phone {phone} appears in two topology entries", at)
                phone_to_entry[phone] = len(entries)
            entries.append(entry)
        return cls(entries, phone_to_entry)

    @classmethod
    def _read_binary(cls, reader: KaldiReader) -> "HmmTopology":
        at = reader.pos
        phones = reader.read_int_vector().tolist()
        phone2idx = reader.read_int_vector().tolist()
        phone_to_entry = {p: i for p, i in enumerate(phone2idx) if i != -1}
        if sorted(phone_to_entry) != sorted(phones):
            raise reader.error("the phone list and the phone-to-entry index disagree", at)
        size = reader.read_int32()
        is_hmm = size != -1  # -1 flags the extended format with separate self-loop pdf classes
        if not is_hmm:
            size = reader.read_int32()
        entries = []
        for _ in range(size):
            entry = []
            for _ in range(reader.read_int32()):
                forward = reader.read_int32()
                self_loop = forward if is_hmm else reader.read_int32()
                transitions = [(reader.read_int32(), reader.read_float()) for _ in range(reader.read_int32())]
                entry.append(HmmState(forward, self_loop, transitions))
            entries.append(entry)
        reader.expect_token("</Topology>")
        return cls(entries, phone_to_entry)

    def write(self, writer: KaldiWriter) -> None:
        is_hmm = self.is_hmm
        writer.token("<Topology>")
        if writer.binary:
            writer.int_vector(self.phones)
            phone2idx = [-1] * (max(self.phones) + 1)
            for phone, index in self.phone_to_entry.items():
                phone2idx[phone] = index
            writer.int_vector(phone2idx)
            if not is_hmm:
                writer.int32(-1)
            writer.int32(len(self.entries))
            for entry in self.entries:
                writer.int32(len(entry))
                for state in entry:
                    writer.int32(state.forward_pdf_class)
                    if not is_hmm:
                        writer.int32(state.self_loop_pdf_class)
                    writer.int32(len(state.transitions))
                    for destination, prob in state.transitions:
                        writer.int32(destination)
                        writer.float(prob)
        else:
            writer.newline()
            for index, entry in enumerate(self.entries):
                writer.token("<TopologyEntry>")
                writer.newline()
                writer.token("<ForPhones>")
                writer.newline()
                for phone in self.phones:
                    if self.phone_to_entry[phone] == index:
                        writer.int32(phone)
                writer.newline()
                writer.token("</ForPhones>")
                writer.newline()
                for number, state in enumerate(entry):
                    writer.token("<State>")
                    writer.int32(number)
                    if state.forward_pdf_class != NO_PDF:
                        if is_hmm:
                            writer.token("<PdfClass>")
                            writer.int32(state.forward_pdf_class)
                        else:
                            writer.token("<ForwardPdfClass>")
                            writer.int32(state.forward_pdf_class)
                            writer.token("<SelfLoopPdfClass>")
                            writer.int32(state.self_loop_pdf_class)
                    for destination, prob in state.transitions:
                        writer.token("<Transition>")
                        writer.int32(destination)
                        writer.float(prob)
                    writer.token("</State>")
                    writer.newline()
                writer.token("</TopologyEntry>")
                writer.newline()
        writer.token("</Topology>")
        writer.newline()

    def to_kaldi_hmm_gmm(self) -> Any:

        topology = kaldi_hmm_gmm.HmmTopology()
        writer = KaldiWriter(binary=False, precision=9)  # 9 digits: float32 values survive the text exactly
        self.write(writer)
        topology.read(writer.getvalue().decode("ascii"))
        return topology

    @classmethod
    def from_kaldi_hmm_gmm(cls, topology: Any) -> "HmmTopology":
        return cls.read(KaldiReader(str(topology).encode("ascii"), "kaldi_hmm_gmm.HmmTopology", binary=False))


def read_topology(path: str | os.PathLike) -> HmmTopology:
    """A topology file (``data/lang/topo``), text or binary."""
    reader = KaldiReader.open(path)
    topology = HmmTopology.read(reader)
    _expect_end(reader)
    return topology


def write_topology(topology: HmmTopology, path: str | os.PathLike, binary: bool = False) -> Path:
    writer = KaldiWriter(binary)
    topology.write(writer)
    path = Path(path)
    path.write_bytes(writer.getvalue())
    return path


# -- transition model ---------------------------------------------------------------------


@dataclass(eq=False)  # holds numpy arrays: compare fields with numpy
class TransitionModel:
    """Kaldi's ``TransitionModel``: a topology, the transition states and the transition log-probabilities.

    ``tuples`` has one row ``(phone, hmm_state, forward_pdf, self_loop_pdf)``
    per transition state (1-based in Kaldi: row ``s - 1`` is state ``s``), in
    Kaldi's sorted order, which defines the transition-ids. ``log_probs`` is
    indexed by transition-id; entry 0 is unused, as in Kaldi.

    Derived arrays (``ComputeDerived``), all indexed by transition-id (entry 0
    unused): ``transition_state``, ``pdf`` (the self-loop pdf for a self-loop,
    else the forward pdf: ``TransitionIdToPdf``), ``phone``, ``hmm_state``,
    ``is_self_loop``, ``is_final`` (goes to the phone's final state).
    """

    topology: HmmTopology
    tuples: np.ndarray
    log_probs: np.ndarray

    def __post_init__(self) -> None:
        self.tuples = np.asarray(self.tuples, dtype=np.int32).reshape(-1, 4)
        self.log_probs = np.asarray(self.log_probs, dtype=np.float32)
        self._compute_derived()

    def _compute_derived(self) -> None:
        # Kaldi's TransitionModel::ComputeDerived: the transitions out of each
        # transition state get consecutive ids, starting from 1.
        if len(self.tuples) == 0:
            raise ValueError("a transition model needs at least one transition state")
        keys = [tuple(row) for row in self.tuples.tolist()]
        if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
            raise ValueError("transition-state tuples are not sorted and unique (Kaldi sorts them)")
        state2id = [0, 1]
        transition_state, pdf, is_self_loop, is_final = [0], [-1], [False], [False]
        for tstate, (phone, hmm_state, forward_pdf, self_loop_pdf) in enumerate(keys, start=1):
            try:
                entry = self.topology.topology_for_phone(phone)
            except KeyError:
                raise ValueError(f"transition state {tstate}: phone {phone} has no topology entry") from None
            if not 0 <= hmm_state < len(entry):
                raise ValueError(f"transition state {tstate}: phone {phone} has no HMM state {hmm_state}")
            for destination, _ in entry[hmm_state].transitions:
                transition_state.append(tstate)
                is_self_loop.append(destination == hmm_state)
                is_final.append(destination == len(entry) - 1)
                pdf.append(self_loop_pdf if destination == hmm_state else forward_pdf)
            state2id.append(len(transition_state))
        self.state2id = np.array(state2id, dtype=np.int32)  # [tstate] -> first transition-id; [T + 1] -> past the end
        self.transition_state = np.array(transition_state, dtype=np.int32)
        self.pdf = np.array(pdf, dtype=np.int32)
        self.is_self_loop = np.array(is_self_loop)
        self.is_final = np.array(is_final)
        self.phone = np.concatenate([[0], self.tuples[self.transition_state[1:] - 1, 0]]).astype(np.int32)
        self.hmm_state = np.concatenate([[0], self.tuples[self.transition_state[1:] - 1, 1]]).astype(np.int32)
        if len(self.log_probs) != self.num_transition_ids + 1:
            raise ValueError(
                f"<LogProbs> has {len(self.log_probs)} entries; the transition states have "
                f"{self.num_transition_ids} transition-ids, so {self.num_transition_ids + 1} are expected"
            )

    @property
    def num_transition_ids(self) -> int:
        return len(self.transition_state) - 1

    @property
    def num_transition_states(self) -> int:
        return len(self.tuples)

    @property
    def num_pdfs(self) -> int:
        """1 + the largest forward or self-loop pdf-id (Kaldi's ``NumPdfs``)."""
        return int(self.tuples[:, 2:].max()) + 1

    @property
    def phones(self) -> list[int]:
        return self.topology.phones

    @property
    def is_hmm(self) -> bool:
        return self.topology.is_hmm

    def transition_id_to_pdf(self, transition_id: int) -> int:
        self._check_ids(np.asarray([transition_id]))
        return int(self.pdf[transition_id])

    def non_self_loop_log_probs(self) -> np.ndarray:
        """log(1 - self-loop probability) per transition state (index 0 unused), as ``ComputeDerivedOfProbs``."""
        result = np.zeros(self.num_transition_states + 1, dtype=np.float32)
        for tstate in range(1, self.num_transition_states + 1):
            ids = np.arange(self.state2id[tstate], self.state2id[tstate + 1])
            loops = ids[self.is_self_loop[ids]]
            if len(loops):
                stay = np.float32(math.exp(float(self.log_probs[loops[0]])))
                leave = np.float32(1.0) - stay
                result[tstate] = math.log(leave if leave > 0 else 1.0e-10)
        return result

    def _check_ids(self, ids: np.ndarray, where: str = "") -> None:
        if ids.size and (ids.min() < 1 or ids.max() > self.num_transition_ids):
            bad = int(ids[(ids < 1) | (ids > self.num_transition_ids)][0])
            raise ValueError(
                f"{where}transition-id {bad} is out of range 1..{self.num_transition_ids} "
                "(alignment and model do not match?)"
            )

    # -- Kaldi format ------------------------------------------------------------------

    @classmethod
    def read(cls, reader: KaldiReader) -> "TransitionModel":
        reader.expect_token("<TransitionModel>")
        topology = HmmTopology.read(reader)
        at = reader.pos
        token = reader.read_token("<Triples> or <Tuples>")
        if token not in ("<Triples>", "<Tuples>"):
            raise reader.error(f"expected <Triples> or <Tuples>, found {token}", at)
        count = reader.read_int32()
        if count < 0:
            raise reader.error(f"negative number of transition states {count}", at)
        width = 4 if token == "<Tuples>" else 3
        values = reader.read_int32s(count * width).reshape(count, width)
        if width == 3:  # <Triples>: the self-loop pdf is the forward pdf
            values = np.concatenate([values, values[:, 2:3]], axis=1)
        reader.expect_token("</Tuples>" if width == 4 else "</Triples>")
        reader.expect_token("<LogProbs>")
        log_probs = reader.read_vector()
        reader.expect_token("</LogProbs>")
        reader.expect_token("</TransitionModel>")
        try:
            return cls(topology, values, log_probs)
        except ValueError as error:
            raise reader.error(f"inconsistent transition model: {error}", at) from None

    def write(self, writer: KaldiWriter) -> None:
        is_hmm = self.is_hmm
        writer.token("<TransitionModel>")
        writer.newline()
        self.topology.write(writer)
        writer.token("<Triples>" if is_hmm else "<Tuples>")
        writer.int32(self.num_transition_states)
        writer.newline()
        for phone, hmm_state, forward_pdf, self_loop_pdf in self.tuples.tolist():
            writer.int32(phone)
            writer.int32(hmm_state)
            writer.int32(forward_pdf)
            if not is_hmm:
                writer.int32(self_loop_pdf)
            writer.newline()
        writer.token("</Triples>" if is_hmm else "</Tuples>")
        writer.newline()
        writer.token("<LogProbs>")
        writer.newline()
        writer.vector(self.log_probs)
        writer.token("</LogProbs>")
        writer.newline()
        writer.token("</TransitionModel>")
        writer.newline()

    # -- kaldi-hmm-gmm -----------------------------------------------------------------

    def to_kaldi_hmm_gmm(self) -> Any:
        """A ``kaldi_hmm_gmm.TransitionModel`` with the same transition-ids and probabilities."""

        # Its pickle state is (tuples, topology, state2id, id2state, id2pdf_id,
        # num_pdfs, log_probs, non_self_loop_log_probs); it is not validated, so
        # the derived arrays computed here must be (and are tested to be) Kaldi's.
        tuples = [_kaldi_hmm_gmm.TransitionModelTuple(*row) for row in self.tuples.tolist()]
        model = kaldi_hmm_gmm.TransitionModel.__new__(kaldi_hmm_gmm.TransitionModel)
        model.__setstate__(
            (
                tuples,
                self.topology.to_kaldi_hmm_gmm(),
                self.state2id.tolist(),
                self.transition_state.tolist(),
                [0] + self.pdf[1:].tolist(),
                self.num_pdfs,
                self.log_probs.tolist(),
                self.non_self_loop_log_probs().tolist(),
            )
        )
        return model

    @classmethod
    def from_kaldi_hmm_gmm(cls, model: Any) -> "TransitionModel":
        state = model.__getstate__()
        tuples = np.array([t.__getstate__() for t in state[0]], dtype=np.int32)
        return cls(HmmTopology.from_kaldi_hmm_gmm(state[1]), tuples, np.array(state[6], dtype=np.float32))


def ali_to_pdf(
    transition_model: TransitionModel, alignment: Sequence[int] | np.ndarray, utterance: str = ""
) -> np.ndarray:
    """Kaldi's ``ali-to-pdf``: transition-ids (1-based) to pdf-ids (0-based), frame by frame."""
    ids = np.asarray(alignment, dtype=np.int64)
    transition_model._check_ids(ids, f"utterance {utterance!r}: " if utterance else "")
    return transition_model.pdf[ids]


def ali_to_phones(transition_model: TransitionModel, alignment: Sequence[int] | np.ndarray) -> np.ndarray:
    """The phone of each frame (``TransitionIdToPhone``; ``ali-to-phones --per-frame``)."""
    ids = np.asarray(alignment, dtype=np.int64)
    transition_model._check_ids(ids)
    return transition_model.phone[ids]


# -- final.mdl ------------------------------------------------------------------------------


def _expect_end(reader: KaldiReader) -> None:
    at = reader.pos
    if not reader.at_end():
        raise reader.error("unexpected data after the end of the object", at)


def read_transition_model(path: str | os.PathLike) -> TransitionModel:
    """Only the transition model of a model file (whatever follows it: GMMs or a neural network)."""
    return TransitionModel.read(KaldiReader.open(path))


def read_model(path: str | os.PathLike) -> tuple[TransitionModel, AmDiagGmm]:
    """A GMM model file (``final.mdl``, text or binary): the transition model and the GMMs.

    The transition model and the GMMs must agree on the number of pdfs.
    """
    reader = KaldiReader.open(path)
    transition_model = TransitionModel.read(reader)
    following = "the end of the file" if reader.at_end() else None
    at = reader.pos
    if following is None:
        following = reader.read_token()
        reader.pos = at
    if following != "<DIMENSION>":
        raise reader.error(
            f"expected <DIMENSION> (the GMMs after the transition model), found {following}; "
            "for a model that is not a GMM, read only its transition model (read_transition_model)",
            at,
        )
    acoustic_model = AmDiagGmm.read(reader)
    _expect_end(reader)
    if acoustic_model.num_pdfs != transition_model.num_pdfs:
        raise KaldiFormatError(
            f"{path}: the transition model has {transition_model.num_pdfs} pdfs, the GMMs {acoustic_model.num_pdfs}"
        )
    return transition_model, acoustic_model


def model_to_bytes(
    transition_model: TransitionModel, acoustic_model: AmDiagGmm | None, binary: bool = True, precision: int = 7
) -> bytes:
    writer = KaldiWriter(binary, precision=precision)
    transition_model.write(writer)
    if acoustic_model is not None:
        acoustic_model.write(writer)
    return writer.getvalue()


def write_model(
    transition_model: TransitionModel, acoustic_model: AmDiagGmm | None, path: str | os.PathLike, binary: bool = True
) -> Path:
    """Write ``final.mdl`` as Kaldi's GMM tools do (transition model, then GMMs)."""
    if acoustic_model is not None and acoustic_model.num_pdfs != transition_model.num_pdfs:
        raise ValueError(
            f"the transition model has {transition_model.num_pdfs} pdfs, the GMMs {acoustic_model.num_pdfs}"
        )
    path = Path(path)
    path.write_bytes(model_to_bytes(transition_model, acoustic_model, binary))
    return path


def as_transition_model(model: TransitionModel | str | os.PathLike) -> TransitionModel:
    """``model`` itself, or the transition model of a ``final.mdl`` path."""
    return model if isinstance(model, TransitionModel) else read_transition_model(model)
