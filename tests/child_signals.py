"Start test children with default signal dispositions, however the test run itself was launched."
import signal


def default_signals():
    "preexec_fn for Popen: SIGINT and SIGTERM as a terminal would give them (a `nohup`/`&` job inherits SIGINT ignored)"
    for number in (signal.SIGINT, signal.SIGTERM): signal.signal(number, signal.SIG_DFL)


def ignored_sigint():
    "preexec_fn for Popen: start the child as a shell starts a background job, with SIGINT ignored"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
