"""Kaldi's diagonal-covariance GMMs: ``DiagGmm`` and the acoustic model ``AmDiagGmm`` (one GMM per pdf).

Formats from ``src/gmm/diag-gmm.cc`` and ``src/gmm/am-diag-gmm.cc``:
``<DIMENSION> d <NUMPDFS> n``, then per pdf ``<DiagGMM> <GCONSTS> v <WEIGHTS> v
<MEANS_INVVARS> m <INV_VARS> m </DiagGMM>`` (``<GCONSTS>`` optional on read), in
binary or text (:mod:`blasr.kaldi.formats.io`). In ``final.mdl`` the ``AmDiagGmm``
follows the transition model (:mod:`blasr.kaldi.formats.model`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import kaldi_hmm_gmm
import numpy as np

from blasr.kaldi.formats.io import KaldiReader, KaldiWriter


@dataclass(eq=False)  # holds numpy arrays: compare fields with numpy
class DiagGmm:
    """Kaldi's ``DiagGmm`` in its own parametrisation: weights, means x inverse variances, inverse variances.

    ``gconsts`` (the log-likelihood of each component at the zero vector) is
    kept as read so that a file round-trips exactly; :meth:`compute_gconsts`
    recomputes it as ``DiagGmm::ComputeGconsts``.
    """

    weights: np.ndarray  # (G,)
    means_invvars: np.ndarray  # (G, D)
    inv_vars: np.ndarray  # (G, D)
    gconsts: np.ndarray | None = None  # (G,)

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights)
        self.means_invvars = np.atleast_2d(np.asarray(self.means_invvars))
        self.inv_vars = np.atleast_2d(np.asarray(self.inv_vars))
        num_gauss = len(self.weights)
        if self.means_invvars.shape != self.inv_vars.shape or self.means_invvars.shape[0] != num_gauss:
            raise ValueError(
                f"GMM sizes disagree: {num_gauss} weights, means_invvars {self.means_invvars.shape}, "
                f"inv_vars {self.inv_vars.shape}"
            )
        if self.gconsts is None:
            self.gconsts = self.compute_gconsts()
        self.gconsts = np.asarray(self.gconsts)
        if self.gconsts.shape != (num_gauss,):
            raise ValueError(f"{len(self.gconsts)} gconsts for {num_gauss} Gaussians")

    @classmethod
    def from_means_and_variances(cls, weights, means, variances) -> "DiagGmm":
        inv_vars = 1.0 / np.asarray(variances, dtype=np.float64)
        return cls(
            np.asarray(weights, dtype=np.float32),
            (np.asarray(means, dtype=np.float64) * inv_vars).astype(np.float32),
            inv_vars.astype(np.float32),
        )

    @property
    def num_gauss(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return self.means_invvars.shape[1]

    @property
    def means(self) -> np.ndarray:
        return self.means_invvars / self.inv_vars

    @property
    def variances(self) -> np.ndarray:
        return 1.0 / self.inv_vars

    def compute_gconsts(self) -> np.ndarray:
        """log w - D/2 log 2pi + 1/2 sum log(inv_var) - 1/2 sum mean^2 inv_var (``ComputeGconsts``)."""
        inv_vars = self.inv_vars.astype(np.float64)
        means_invvars = self.means_invvars.astype(np.float64)
        with np.errstate(divide="ignore"):
            gconsts = (
                np.log(self.weights.astype(np.float64))
                - 0.5 * self.dim * math.log(2 * math.pi)
                + 0.5 * np.log(inv_vars).sum(axis=1)
                - 0.5 * (means_invvars**2 / inv_vars).sum(axis=1)
            )
        if np.isnan(gconsts).any():
            raise ValueError("not a number in the gconst computation (negative variance?)")
        # Kaldi turns +inf into -inf so that the answer is -inf, not NaN.
        gconsts[np.isposinf(gconsts)] *= -1
        return gconsts.astype(self.weights.dtype)

    def log_likelihoods(self, frames: np.ndarray) -> np.ndarray:
        """Per-component log-likelihoods (frames x G) of frames (frames x D), as ``LogLikelihoods``."""
        frames = np.atleast_2d(np.asarray(frames, dtype=np.float64))
        return (
            self.gconsts.astype(np.float64)
            + frames @ self.means_invvars.T.astype(np.float64)
            - 0.5 * (frames**2) @ self.inv_vars.T.astype(np.float64)
        )

    def log_likelihood(self, frames: np.ndarray) -> np.ndarray:
        """Total log-likelihood per frame (log-sum-exp over components)."""
        per_component = self.log_likelihoods(frames)
        top = per_component.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(per_component - top).sum(axis=1, keepdims=True)))[:, 0]

    @classmethod
    def read(cls, reader: KaldiReader) -> "DiagGmm":
        at = reader.pos
        token = reader.read_token("<DiagGMM>")
        if token not in ("<DiagGMM>", "<DiagGMMBegin>"):  # <DiagGMMBegin>: Kaldi's old spelling
            raise reader.error(f"expected <DiagGMM>, found {token}", at)
        at = reader.pos
        token = reader.read_token("<GCONSTS> or <WEIGHTS>")
        gconsts = None
        if token == "<GCONSTS>":  # optional in Kaldi
            gconsts = reader.read_vector()
            reader.expect_token("<WEIGHTS>")
        elif token != "<WEIGHTS>":
            raise reader.error(f"expected <GCONSTS> or <WEIGHTS>, found {token}", at)
        weights = reader.read_vector()
        reader.expect_token("<MEANS_INVVARS>")
        means_invvars = reader.read_matrix()
        reader.expect_token("<INV_VARS>")
        inv_vars = reader.read_matrix()
        end = reader.pos
        token = reader.read_token("</DiagGMM>")
        if token not in ("</DiagGMM>", "<DiagGMMEnd>"):
            raise reader.error(f"expected </DiagGMM>, found {token}", end)
        try:
            return cls(weights, means_invvars, inv_vars, gconsts)
        except ValueError as error:
            raise reader.error(f"inconsistent GMM: {error}", at) from None

    def write(self, writer: KaldiWriter) -> None:
        writer.token("<DiagGMM>")
        writer.newline()
        writer.token("<GCONSTS>")
        writer.vector(self.gconsts)
        writer.token("<WEIGHTS>")
        writer.vector(self.weights)
        writer.token("<MEANS_INVVARS>")
        writer.matrix(self.means_invvars)
        writer.token("<INV_VARS>")
        writer.matrix(self.inv_vars)
        writer.token("</DiagGMM>")
        writer.newline()


@dataclass(eq=False)  # holds numpy arrays: compare fields with numpy
class AmDiagGmm:
    """Kaldi's ``AmDiagGmm``: one :class:`DiagGmm` per pdf-id."""

    pdfs: list[DiagGmm]

    def __post_init__(self) -> None:
        dims = {gmm.dim for gmm in self.pdfs}
        if len(dims) > 1:
            raise ValueError(f"the GMMs have different dimensions {sorted(dims)}")

    @property
    def num_pdfs(self) -> int:
        return len(self.pdfs)

    @property
    def dim(self) -> int:
        return self.pdfs[0].dim if self.pdfs else 0

    @property
    def num_gauss(self) -> int:
        return sum(gmm.num_gauss for gmm in self.pdfs)

    @classmethod
    def read(cls, reader: KaldiReader) -> "AmDiagGmm":
        reader.expect_token("<DIMENSION>")
        dim = reader.read_int32()
        reader.expect_token("<NUMPDFS>")
        at = reader.pos
        num_pdfs = reader.read_int32()
        if num_pdfs <= 0:
            raise reader.error(f"<NUMPDFS> is {num_pdfs}; it must be positive", at)
        pdfs = []
        for pdf in range(num_pdfs):
            at = reader.pos
            gmm = DiagGmm.read(reader)
            if gmm.dim != dim:
                raise reader.error(f"pdf {pdf} has dimension {gmm.dim}, <DIMENSION> says {dim}", at)
            pdfs.append(gmm)
        return cls(pdfs)

    def write(self, writer: KaldiWriter) -> None:
        writer.token("<DIMENSION>")
        writer.int32(self.dim)
        writer.token("<NUMPDFS>")
        writer.int32(self.num_pdfs)
        for gmm in self.pdfs:
            gmm.write(writer)

    def to_kaldi_hmm_gmm(self) -> Any:
        """A ``kaldi_hmm_gmm.AmDiagGmm`` (its pickle state: weights, inv_vars, means_invvars per pdf)."""

        state = []
        for gmm in self.pdfs:
            state += [
                gmm.weights.astype(np.float32),
                gmm.inv_vars.astype(np.float32),
                gmm.means_invvars.astype(np.float32),
            ]
        model = kaldi_hmm_gmm.AmDiagGmm.__new__(kaldi_hmm_gmm.AmDiagGmm)
        model.__setstate__(tuple(state))
        return model

    @classmethod
    def from_kaldi_hmm_gmm(cls, model: Any) -> "AmDiagGmm":
        pdfs = []
        for pdf in range(model.num_pdfs):
            gmm = model.get_pdf(pdf)
            arrays = (gmm.weights, gmm.means_invvars, gmm.inv_vars, gmm.gconsts)
            pdfs.append(DiagGmm(*(np.array(a) for a in arrays)))
        return cls(pdfs)
