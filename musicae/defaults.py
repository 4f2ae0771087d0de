"""Defaults that the command line and the Python API share: each has one home, here.

No imports, so the command line reads them without loading torch.
"""

SAMPLE_TEMPERATURE = 0.5  # softmax temperature when sampling new music from the prior
DECODE_TEMPERATURE = 0.0  # decoding a given code (reconstruct, interpolate, decode): argmax
# `groove`: draw each hit's velocity and offset from the model's own distribution; lower
# temperatures pull the timing towards the grid (at 0, the likeliest bin: mostly on it)
GROOVE_TEMPERATURE = 1.0
SAMPLES = 8  # `sample -n`
MAX_SAMPLES = 10_000  # one run's samples are decoded as one batch, written one file each
MAX_STEPS = 10**9  # training steps: beyond any run's reach (a step takes milliseconds at best)
MAX_BATCH = 65_536  # windows or digits per step and process
INTERPOLATION_STEPS = 8  # points on an interpolation path, endpoints included
INTERPOLATION_METHOD = "slerp"
# "even": of 4x the points on the path, the 8 whose decoded distances from A rise most
# evenly (chosen on folk's valid split: benchmarks/quality_melody.py --choose); "uniform":
# equal fractions of the path
INTERPOLATION_SPACING = "even"
# `fit-prior`: a Gaussian with a full covariance per layout (meter), fitted to the codes of
# up to PRIOR_WINDOWS training windows (chosen on folk's valid split:
# benchmarks/quality_melody.py --choose)
PRIOR_COMPONENTS = 1
PRIOR_COVARIANCE = "full"
PRIOR_WINDOWS = 10_000
# A model told per-step controls (chords) also keeps those windows' posteriors, and a code
# drawn for given controls comes from one of the PRIOR_NEAREST windows whose controls are
# nearest (chosen on pop909's valid split: benchmarks/quality_polyphony.py chords --choose)
PRIOR_NEAREST = 64
METER = None  # meter of sampled or decoded music: None fills each bar slot (4/4 at 16 steps)
