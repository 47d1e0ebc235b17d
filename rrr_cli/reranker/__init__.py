"""The reward model (the reranker): a head on pooled states of the candidate's text, trained on
preference pairs (`rrr_cli.training.train_reward`) and scoring through `rrr_cli.ranking.reward`.

By default the states are a code LM trunk's (the generator's own weights), LoRA adapters on its top
layers when they train, and the head reads their mean over the completion's tokens. The modules,
bottom up:

- `device`: torch on first use, the default device, bf16 autocast;
- `settings`: `RewardModelSettings` (kept in a reranker's manifest) and the head's extra input columns;
- `base_model`: resolving and fingerprinting the base model, loading its trunk (kept dequantised);
- `heads`: the head (`make_head`) and a saved head in numpy (`NumpyHead`);
- `states`: where pooled states come from (`StateSource`: llama.cpp, or none) and keeping them;
- `trunk`: the torch trunk as a state source (`TrunkStates`), its frozen bottom and LoRA top;
- `store`: a saved reranker's files, and finding and listing rerankers;
- `model`: `RewardModel`, a head on the states of the source it holds.
"""

from rrr_cli.reranker.base_model import (BaseModelInfo, base_model_info, dequantised_path, keep_dequantised,
                                         load_trunk, sha256_files)
from rrr_cli.reranker.device import autocast, bf16_supported, default_device, device_kind, require_torch
from rrr_cli.reranker.heads import NumpyHead, head_numpy, head_shapes, make_head
from rrr_cli.reranker.model import RewardModel
from rrr_cli.reranker.settings import (CONFIDENCE_INPUTS, EXAMPLES_TIER, STATES, RewardModelSettings, check_states,
                                       confidence_inputs, examples_column, extra_inputs, extra_rows, fill_confidence)
from rrr_cli.reranker.states import (HEAD_ALONE_SOURCES, Encoded, KeptStates, LlamaCppStates, NoStates,
                                     StateSource)
from rrr_cli.reranker.store import (ADAPTER_DIR, BASE_MODEL_FIELDS, FORMAT_VERSION, HEAD_FILE, MANIFEST,
                                    MANIFEST_FIELDS, find_reranker, is_shipped, list_rerankers, new_reranker_name,
                                    newest_reranker, read_manifest, rerankers_dir, saved_base, saved_settings,
                                    shipped_rerankers_dir, write_reranker)
from rrr_cli.reranker.trunk import LORA_TARGETS, TextStates, TrunkStates, with_lora

__all__ = [
    "ADAPTER_DIR", "BASE_MODEL_FIELDS", "BaseModelInfo", "CONFIDENCE_INPUTS", "EXAMPLES_TIER", "Encoded",
    "FORMAT_VERSION", "HEAD_ALONE_SOURCES", "HEAD_FILE", "KeptStates", "LORA_TARGETS", "LlamaCppStates",
    "MANIFEST", "MANIFEST_FIELDS", "NoStates", "NumpyHead", "RewardModel", "RewardModelSettings", "STATES",
    "StateSource", "TextStates", "TrunkStates", "autocast", "base_model_info", "bf16_supported",
    "check_states", "confidence_inputs", "default_device", "dequantised_path", "device_kind", "examples_column",
    "extra_inputs", "extra_rows", "fill_confidence", "find_reranker", "head_numpy", "head_shapes",
    "is_shipped", "keep_dequantised", "list_rerankers", "load_trunk", "make_head", "new_reranker_name",
    "newest_reranker", "read_manifest", "rerankers_dir", "require_torch", "saved_base", "saved_settings",
    "sha256_files", "shipped_rerankers_dir", "with_lora", "write_reranker",
]
