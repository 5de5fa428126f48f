"""What the Marathon client scenarios share: the documented workaround for
marathon 0.13.0 on Python >= 3.10 (it uses collections.Iterable, fixed in
its repository after the release), step output and deadline waits."""
import collections
import collections.abc
import time

collections.Iterable = collections.abc.Iterable

from marathon.exceptions import MarathonHttpError, NotFoundError  # noqa: E402

DEADLINE = 60


def ok(step):
    print("ok", step, flush=True)


def wait(what, cond):
    """Polls cond() every 0.2 s until it is truthy (returned), or raises
    after DEADLINE seconds naming what was awaited and the last answer."""
    end = time.time() + DEADLINE
    last = None
    while time.time() < end:
        try:
            last = cond()
            if last:
                return last
        except (MarathonHttpError, NotFoundError) as e:
            last = e  # e.g. 503 while a new leader is elected: look again
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))
