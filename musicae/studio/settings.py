"""The studio's defaults and limits, in one place the command line reads too (no imports:
``musicae --help`` stays quick)."""

HOST = "127.0.0.1"  # this machine only; another address needs --host and gets a warning
PORT = 8000
MiB = 2**20
BODY_BYTES = 2 * MiB  # an upload (a tune's MIDI file is a few KB) or a JSON request
STORE_BYTES = 256 * MiB  # the server's temporary folder: the oldest results go past this
MAX_PIECES = 32  # samples per request and points per path (each a MIDI and a WAV file)
QUEUE = 4  # requests that may wait for a model beside the one it is running; then 503
CONNECTIONS = 64  # open connections uvicorn serves at once; more get 503
KEPT_CODES = 512  # codes of pieces kept for blending, most recently used
