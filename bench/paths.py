"""Where bench's own files are: the source checkout's root and its Hydra config folder."""

from __future__ import annotations

from pathlib import Path

#: the folder holding bench/, configs/ and reports/ (bench is installed from a source checkout)
REPO_ROOT = Path(__file__).resolve().parent.parent
#: the Hydra config folder (configs/config.yaml and the groups beside it)
CONFIG_DIR = REPO_ROOT / "configs"
