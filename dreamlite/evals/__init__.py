"""Paper benchmarks: GenEval (`geneval/`), ImgEdit Basic (`imgedit.py`) and GEdit-Bench (`gedit.py`).

Each benchmark has two halves. Sampling runs a DreamLite model over the benchmark's items with the official
DreamLite protocol and writes the benchmark's own folder layout, so the official scorers run on it unchanged; it
resumes (images already written are kept) and shares items among processes under `accelerate launch`
(`shard.py`). Scoring re-implements the benchmark's rules on local weights: GenEval's rule engine on Mask2Former
detections and CLIP colours, ImgEdit's per-type rubric and GEdit's VIEScore with a pluggable judge (`judges/`).
Every results file records what scored it (`identity.py`).
"""

class EvalError(ValueError):
    """Bad benchmark input (a missing file, a malformed prompt file); the message is one line for the user."""
