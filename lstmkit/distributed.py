"""lstmkit.training.distributed under its earlier name, for the modules outside training that read
the torchrun environment (the command line, the forecaster, saving)."""

from lstmkit.training.distributed import (Cluster, all_gather_tensors, all_sum, barrier, broadcast_int, check_mode,
                                          is_main_process, join, launched_rank, local_device, world_size_from_env,
                                          wrap)

__all__ = ["Cluster", "all_gather_tensors", "all_sum", "barrier", "broadcast_int", "check_mode", "is_main_process",
           "join", "launched_rank", "local_device", "world_size_from_env", "wrap"]
