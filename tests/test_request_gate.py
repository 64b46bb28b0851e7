"""Background work lets Slack's answers go first, and never waits for them for long."""

import threading
import time

from bot.request_gate import Answers


def test_work_goes_at_once_when_nothing_is_being_answered():
    started = time.monotonic()
    Answers().let_through(most=5)
    assert time.monotonic() - started < 1


def test_work_waits_until_the_answers_being_made_are_done():
    answers = Answers()
    order: list[str] = []
    answering = threading.Event()

    def answer() -> None:
        with answers.answering():
            answering.set()
            time.sleep(0.2)
            order.append("answered")

    thread = threading.Thread(target=answer)
    thread.start()
    answering.wait()
    answers.let_through(most=5)
    order.append("work")
    thread.join()
    assert order == ["answered", "work"]


def test_work_waits_for_the_last_of_several_answers():
    answers = Answers()
    with answers.answering():
        with answers.answering():
            pass
        waiter = threading.Thread(target=answers.let_through, kwargs={"most": 5})
        waiter.start()
        waiter.join(0.1)
        assert waiter.is_alive()
    waiter.join(1)
    assert not waiter.is_alive()


def test_a_steady_stream_of_answers_does_not_starve_work():
    answers = Answers()
    with answers.answering():
        started = time.monotonic()
        answers.let_through(most=0.1)
        assert time.monotonic() - started < 1
