"""torchrun (torch.distributed.run of Debian's torch 1.13) with one fix: under Python 3.11 its --redirects/--tee
parsing yields None, which elastic's to_map cannot take (AttributeError: 'NoneType' object has no attribute
'get'); here None means "no redirection", its documented default. Everything else is torchrun itself: the agent,
the static rendezvous and the agent's TCPStore that the workers join. usage: python3 torchrun.py ARGS..."""
import sys

import torch.distributed.elastic.multiprocessing as mp
import torch.distributed.elastic.multiprocessing.api as api

_to_map = api.to_map


def to_map(val_or_map, local_world_size):
    return _to_map(api.Std.NONE if val_or_map is None else val_or_map, local_world_size)


api.to_map = mp.to_map = to_map

from torch.distributed.run import main  # noqa: E402  (after the fix)

sys.argv[0] = "torchrun"
main()
