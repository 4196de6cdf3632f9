"""The conversation view-model: thread, author history, counting like the network, newest selection wins."""

from __future__ import annotations

from typing import Any

from services.store.posts import TimelineFilter
from tests.views.qtasync import run, settle, wait_until
from views.conversation_vm import Conversation, ConversationViewModel


def _synced(qloop: Any, core: Any) -> None:
    run(qloop, core.sync_once())


def _post(core: Any, remote_id: str) -> Any:
    return next(r for r in core.page(TimelineFilter(), None, 200) if r.remote_id == remote_id)


def test_load_reads_thread_history_and_limit(qloop: Any, core: Any) -> None:
    _synced(qloop, core)
    vm = ConversationViewModel(core)
    loaded: list[Conversation] = []
    vm.loaded.connect(loaded.append)
    post = _post(core, "p0002")  # Maria's follow-up: the thread has her first post and our answer
    vm.load(post.id)
    run(qloop, wait_until(lambda: loaded))
    conv = loaded[0]
    assert conv.post.id == post.id
    assert [r.remote_id for r in conv.thread] == ["p0001", "b001", "p0002"]
    assert [r.is_own for r in conv.thread] == [False, True, False]
    assert conv.limit == 500  # the Mastodon-style demo account
    assert vm.current is conv
    assert vm.count("  hello  ") == (5, 500)
    assert vm.count("x" * 600) == (600, 500)


def test_history_holds_the_authors_posts_outside_the_thread(qloop: Any, core: Any) -> None:
    _synced(qloop, core)
    vm = ConversationViewModel(core)
    conv = vm.read(_post(core, "p0006").id)  # Lena: German complaint; her thanks on X is history
    assert conv is not None
    assert [r.remote_id for r in conv.history] == ["p0005"]
    assert conv.limit == 500


def test_the_newest_selection_wins(qloop: Any, core: Any) -> None:
    _synced(qloop, core)
    vm = ConversationViewModel(core)
    loaded: list[int] = []
    vm.loaded.connect(lambda c: loaded.append(c.post.id))
    a, b = _post(core, "p0001"), _post(core, "p0003")
    vm.load(a.id)
    vm.load(b.id)
    run(qloop, wait_until(lambda: loaded))
    settle(qloop, 0.05)
    assert loaded == [b.id]
    assert vm.post_id == b.id


def test_unsent_replies_show_in_their_conversation(qloop: Any, core: Any) -> None:
    _synced(qloop, core)
    core.networks.demo_world.set_offline(True)
    post = _post(core, "p0003")
    run(qloop, core.queue_reply(post.id, "We're on it, Tom."))
    conv = ConversationViewModel(core).read(post.id)
    assert conv is not None
    assert [(o.text, o.state) for o in conv.unsent] == [("We're on it, Tom.", "queued")]
    assert conv.limit == 300  # Bluesky-style


def test_clear_and_missing_posts(qloop: Any, core: Any) -> None:
    vm = ConversationViewModel(core)
    cleared: list[int] = []
    vm.cleared.connect(lambda: cleared.append(1))
    vm.load(999_999)
    run(qloop, wait_until(lambda: cleared))
    assert vm.current is None and vm.post_id is None
    assert vm.count("abc") == (3, 0)
