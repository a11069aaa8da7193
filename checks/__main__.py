"""`python -m checks ...`; a closed pipe (`... | head -1`) or Ctrl-C ends the command quietly."""
import os
import sys

from checks.cli import main
from checks.cli_interrupt import install as handle_interrupts

handle_interrupts()  # Ctrl-C and SIGTERM: one line and exit 130/143, a run records what finished

# SIGPIPE's conventional exit status (128 + 13), what `yes | head -1` leaves behind
EXIT_BROKEN_PIPE = 141

try:
    code = main()
    sys.stdout.flush()  # a broken pipe surfaces here rather than at interpreter exit
except BrokenPipeError:
    # the reader went away: nothing left to tell it; silence the interpreter's final flush too
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = EXIT_BROKEN_PIPE
sys.exit(code)
