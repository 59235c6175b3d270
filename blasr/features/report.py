"""What a data stage did: items kept, items skipped with their reason, items fixed up.

Nothing is dropped silently: every stage (manifests, features, targets)
returns a :class:`StageReport`, logs its :meth:`~StageReport.summary` at the end
and writes it next to its outputs.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger("blasr")


@dataclass
class StageReport:
    """Counts and reasons for one stage over a manifest.

    Attributes:
        stage: e.g. ``"features"``, ``"targets"``, ``"manifests"``.
        kept: items that went through (possibly after a fix).
        skipped: ``(item id, reason)`` for every item left out.
        fixed: ``(item id, what was changed)`` for every item kept after a change.
        stats: stage-specific numbers (seconds of audio, speed, frames trimmed ...).
    """

    stage: str
    kept: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fixed: list[tuple[str, str]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    def fix(self, item: str, change: str) -> None:
        self.fixed.append((item, change))

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def skip_reasons(self) -> Counter:
        """Skips counted by the kind of reason (the text before the first ':')."""
        return Counter(reason.split(":", 1)[0] for _, reason in self.skipped)

    def summary(self, max_items: int = 10) -> str:
        """A few lines: totals, then the first ``max_items`` skipped and fixed items."""
        lines = [f"{self.stage}: kept {self.kept}, skipped {self.num_skipped}, fixed {len(self.fixed)}"]
        if self.stats:
            lines.append("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in self.stats.items()))
        for title, items in (("skipped", self.skipped), ("fixed", self.fixed)):
            if items:
                kinds = Counter(text.split(":", 1)[0] for _, text in items)
                lines.append(f"  {title} by kind: " + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()))
                lines.extend(f"    {item}: {text}" for item, text in items[:max_items])
                if len(items) > max_items:
                    lines.append(f"    ... and {len(items) - max_items} more (see the report file)")
        return "\n".join(lines)

    def log(self) -> None:
        logger.info("%s", self.summary())

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
