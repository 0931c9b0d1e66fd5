"""Training from Python: the library's training jobs (snnkit/train/train_job.h), the same runs as the
`snnkit train-ann` and `snnkit train-snn` commands make, in-process.

    import snnkit
    r = snnkit.train_snn("runs/snn", dataset="fmnist", arch="cnn", T=4, epochs=2, lr=0.05, seed=0)
    r["test_accuracy"], r["history"]     # the history: one dict per epoch (train_loss, test_accuracy, lr, ...)

Options are the command's flags with dashes as underscores (--batch-size -> batch_size, --vth -> v_th); the
model, its checkpoint and train_log.jsonl go to `out`, as with the command's --out. Threads: those of
torch.set_num_threads(). An unknown option or a bad value raises snnkit.Error (a ValueError).
"""
import json

from . import _snnkit

__all__ = ["train_ann", "train_snn"]


def _run(fn, out, options):
    return json.loads(fn(dict(options, out=str(out))))


def train_ann(out, **options):
    """Trains an ANN from the zoo (or, with init=DIR and act="qcfs", fine-tunes a saved one) into `out`.

    Returns the command's result as a dict: test_accuracy, epochs, train_seconds, history (a list of dicts,
    one per epoch), train (the configuration), ... . Options as `snnkit train-ann --help` lists them.
    A training stopped early (max_steps, SIGINT) after its checkpoint returns {"interrupted": True, "epochs": n}
    and saves no model: call again with resume=True.
    """
    return _run(_snnkit.train_ann, out, options)


def train_snn(out, **options):
    """Trains an SNN directly (BPTT with a surrogate gradient; dspike_adapt=True adapts Dspike's temperature)
    into `out`. Returns the command's result as a dict (as train_ann, plus T, neuron, dspike_adapt_seconds).
    Options as `snnkit train-snn --help` lists them (--vth: v_th).
    """
    return _run(_snnkit.train_snn, out, options)
