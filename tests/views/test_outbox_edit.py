"""Editing a reply in the GUI takes the path a new reply takes: a new Bluesky @handle gets its DID facet."""

from __future__ import annotations

from typing import Any

from services.store.posts import TimelineFilter
from tests.fakes.bluesky import FakePDS
from tests.services.test_bluesky import bsky_core, fake, mention_facets  # noqa: F401 (fixtures)
from tests.views.qtasync import run, wait_until
from views.main_vm import MainViewModel


# bsky_core signs in with asyncio.run, so it is set up before the qasync loop takes over.
def test_an_edit_in_the_outbox_panel_links_a_new_handle(bsky_core: Any, fake: FakePDS, qloop: Any) -> None:  # noqa: F811
    core, holder = bsky_core
    erin = fake.add_user("erin.test", "Erin")
    fake.add_post("carol.test", "@acme.test the app crashes on login")
    vm = MainViewModel(core)
    notices: list[str] = []
    vm.notice.connect(notices.append)
    try:
        run(qloop, core.sync_once())
        (row,) = core.page(TimelineFilter(), None, 10)
        item = run(qloop, core.queue_reply(row.id, "Sorry Carol, our app team is on it."))
        vm.load()
        vm.edit(item.id, "Sorry Carol, @erin.test from our app team is on it.")
        run(qloop, wait_until(lambda: core.outbox.get(item.id).state == "sent", what="the edited reply sent"))
        assert "Reply changed." in notices
        (record,) = fake.posted
        assert mention_facets(record) == {"@erin.test": erin}
    finally:
        run(qloop, vm.aclose())
        run(qloop, holder["net"].aclose())
