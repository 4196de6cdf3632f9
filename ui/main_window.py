"""The main window: toolbar, banner, sidebar, timeline, conversation pane, outbox dock and status bar."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from services.changes import Changes
from services.corrections import NOT_NEGATIVE, NOT_URGENT, URGENT
from services.store.posts import COUNT_CAP
from ui import theme
from ui.conversation import ConversationPane
from ui.delegates import PostDelegate, SidebarDelegate
from ui.dialogs import SHORTCUTS, HelpDialog, SettingsDialog
from ui.health_panel import HealthPanel
from ui.icons import icon
from ui.outbox_panel import OutboxPanel
from ui.sign_in import BlueskySignInDialog, MastodonSignInDialog
from ui.welcome import WelcomePage
from ui.widgets import Banner, StatusDot, ToggleSwitch
from views.conversation_vm import can_undo_correction, correction_choices
from views.formatting import ago, count_words, plural
from views.main_vm import MainViewModel, StatusInfo

SEARCH_DELAY_MS = 250
VIEW_TITLES = {
    "all": "All mentions",
    "urgent": "Urgent",
    "unanswered": "Unanswered",
    "mine": "Assigned to me",
    "snoozed": "Snoozed",
    "done": "Done and ignored",
}
EMPTY_TEXT = {
    "urgent": "No urgent posts. Nicely done.",
    "unanswered": "Every post has an answer.",
    "mine": "Nothing is assigned to you. Set your name in Settings to use this view.",
    "snoozed": "Nothing is snoozed.",
    "done": "Nothing is done yet.",
}


class MainWindow(QMainWindow):
    """Parley's one window; every action goes through the ``MainViewModel``."""

    closed = Signal()

    def __init__(self, vm: MainViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setWindowTitle("Parley")
        self.setObjectName("mainWindow")
        self.setMinimumSize(QSize(980, 600))
        self.help_dialog: HelpDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.sign_in_dialog: MastodonSignInDialog | BlueskySignInDialog | None = None
        self.health_panel: HealthPanel | None = None
        self._scope_key = "all"
        self._theme = str(vm.settings.get("theme", "system"))
        self._sized = False
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_central()
        self._build_outbox_dock()
        self._build_status_bar()
        self._apply_icons()
        self._connect_vm()
        self._accounts_changed()
        self._clock = QTimer(self)
        self._clock.setInterval(20_000)  # "synced 2 min ago" and card ages keep up with the clock
        self._clock.timeout.connect(self._tick)
        self._clock.start()

    # -- actions --------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        handlers = {
            "next": lambda: self.move_selection(1),
            "previous": lambda: self.move_selection(-1),
            "reply": self.focus_reply,
            "send": self.conversation_send,
            "done": lambda: self.conversation.mark_done(),
            "snooze": lambda: self.conversation.snooze("1h"),
            "ignore": lambda: self.conversation.ignore(),
            "mark_urgent": lambda: self.conversation.correct(URGENT),
            "mark_not_urgent": lambda: self.conversation.correct(NOT_URGENT),
            "mark_not_negative": lambda: self.conversation.correct(NOT_NEGATIVE),
            "undo_correction": lambda: self.vm.undo_correction(),
            "urgent": None,
            "search": self.focus_search,
            "sync": self.vm.sync_now,
            "outbox": None,
            "settings": self.open_settings,
            "help": self.open_help,
            "quit": self.close,
        }
        texts = {
            "next": "Next post",
            "previous": "Previous post",
            "reply": "Reply",
            "send": "Send reply",
            "done": "Mark done",
            "snooze": "Snooze for 1 hour",
            "ignore": "Ignore",
            "mark_urgent": "Mark urgent",
            "mark_not_urgent": "Mark not urgent",
            "mark_not_negative": "Mark not negative",
            "undo_correction": "Undo triage correction",
            "urgent": "Urgent only",
            "search": "Search",
            "sync": "Sync now",
            "outbox": "Outbox",
            "settings": "Settings…",
            "help": "Keyboard shortcuts",
            "quit": "Quit",
        }
        for name, keys, what in SHORTCUTS:
            action = QAction(texts.get(name, what), self)
            action.setObjectName(f"action_{name}")
            sequences = [QKeySequence(k) for k in keys]
            if "?" in keys:
                # "?" needs Shift on many layouts; platforms that do not map Shift+? to ? still match this.
                sequences.append(QKeySequence(Qt.KeyboardModifier.ShiftModifier | Qt.Key.Key_Question))
            action.setShortcuts(sequences)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{what} ({' or '.join(keys)})")
            handler = handlers.get(name)
            if handler is not None:
                action.triggered.connect(handler)
            self.addAction(action)  # so shortcuts work even when the action is in no visible menu
            self.actions_by_name[name] = action
        urgent = self.actions_by_name["urgent"]
        urgent.setCheckable(True)
        urgent.toggled.connect(self.vm.set_urgent_only)
        self.actions_by_name["outbox"].setCheckable(True)
        self.demo_action = QAction("Demo network online", self)
        self.demo_action.setObjectName("action_demo_online")
        self.demo_action.setCheckable(True)
        self.demo_action.setChecked(True)
        self.demo_action.toggled.connect(self._demo_toggled)
        self.add_mastodon_action = QAction("Add Mastodon account…", self)
        self.add_mastodon_action.setObjectName("action_add_mastodon")
        self.add_mastodon_action.triggered.connect(lambda: self.open_mastodon_sign_in())
        self.add_bluesky_action = QAction("Add Bluesky account…", self)
        self.add_bluesky_action.setObjectName("action_add_bluesky")
        self.add_bluesky_action.triggered.connect(lambda: self.open_bluesky_sign_in())
        self.health_action = QAction("Account health…", self)
        self.health_action.setObjectName("action_account_health")
        self.health_action.triggered.connect(self.open_health)

    def action(self, name: str) -> QAction:
        """One of the window's actions by its ``SHORTCUTS`` name."""
        return self.actions_by_name[name]

    def _build_menus(self) -> None:
        bar = self.menuBar()
        a = self.actions_by_name
        file_menu = bar.addMenu("&File")
        file_menu.addAction(a["settings"])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        view = bar.addMenu("&View")
        view.addAction(a["urgent"])
        view.addAction(a["search"])
        view.addSeparator()
        view.addAction(a["outbox"])
        post = bar.addMenu("&Post")
        for name in ("next", "previous", "reply", "send"):
            post.addAction(a[name])
        post.addSeparator()
        for name in ("done", "snooze", "ignore"):
            post.addAction(a[name])
        post.addSeparator()
        for name in ("mark_urgent", "mark_not_urgent", "mark_not_negative", "undo_correction"):
            post.addAction(a[name])
        network = bar.addMenu("&Network")
        network.addAction(a["sync"])
        network.addAction(self.demo_action)
        self.accounts_menu = bar.addMenu("&Accounts")
        self.accounts_menu.addAction(self.add_mastodon_action)
        self.accounts_menu.addAction(self.add_bluesky_action)
        self.accounts_menu.addSeparator()
        self.accounts_menu.addAction(self.health_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(a["help"])

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setFloatable(False)
        tb.setIconSize(QSize(16, 16))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.toggleViewAction().setVisible(False)
        title = QLabel("Parley", tb)
        title.setObjectName("appTitle")
        tb.addWidget(title)
        self.search = QLineEdit(tb)
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search posts    ( / )")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search posts")
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_search_now)
        self._search_icon = self.search.addAction(
            icon("search", theme.colors().muted), QLineEdit.ActionPosition.LeadingPosition
        )
        self.search.installEventFilter(self)
        tb.addWidget(self.search)
        tb.addSeparator()
        self.urgent_button = QToolButton(tb)
        self.urgent_button.setDefaultAction(self.actions_by_name["urgent"])
        self.urgent_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addWidget(self.urgent_button)
        spacer = QWidget(tb)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.demo_switch = ToggleSwitch("Demo network online", tb)
        self.demo_switch.setChecked(True)
        self.demo_switch.setToolTip("Switch the demo network off to watch the outbox hold replies, and on again")
        self.demo_switch.toggled.connect(self.demo_action.setChecked)
        self._demo_switch_action = tb.addWidget(self.demo_switch)
        tb.addSeparator()
        self.sync_button = QToolButton(tb)
        self.sync_button.setDefaultAction(self.actions_by_name["sync"])
        # Widgets added to a tool bar do not follow its button style; set it like the actions'.
        self.sync_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addWidget(self.sync_button)
        for name in ("settings", "help"):
            b = QToolButton(tb)
            b.setDefaultAction(self.actions_by_name[name])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            tb.addWidget(b)
        self.toolbar = tb
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _build_central(self) -> None:
        central = QWidget(self)
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.banner = Banner(central)
        self.banner.action_clicked.connect(self._banner_action)
        lay.addWidget(self.banner)
        self.stack = QStackedWidget(central)
        self.welcome = WelcomePage(str(self.vm.core.data_dir), self.stack)
        self.welcome.demo_requested.connect(self.vm.add_demo_accounts)
        self.welcome.sign_in_requested.connect(self.open_sign_in)
        self.stack.addWidget(self.welcome)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self.stack)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setHandleWidth(1)
        self.splitter.setChildrenCollapsible(False)

        self.sidebar = QTreeView(self.splitter)
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setModel(self.vm.sidebar)
        self.sidebar.setItemDelegate(SidebarDelegate(self.sidebar))
        self.sidebar.setHeaderHidden(True)
        self.sidebar.setRootIsDecorated(False)
        self.sidebar.setIndentation(0)
        self.sidebar.setItemsExpandable(False)
        self.sidebar.setExpandsOnDoubleClick(False)
        self.sidebar.setMouseTracking(True)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sidebar.setMinimumWidth(170)
        self.sidebar.setAccessibleName("Views, networks and accounts")
        self.sidebar.selectionModel().currentChanged.connect(self._sidebar_changed)
        self.vm.sidebar.modelReset.connect(self._sidebar_reset)

        timeline_box = QWidget(self.splitter)
        timeline_box.setMinimumWidth(340)
        tl = QVBoxLayout(timeline_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(0)
        head = QWidget(timeline_box)
        hl = QHBoxLayout(head)
        hl.setContentsMargins(16, 10, 16, 4)
        self.timeline_title = QLabel(head)
        f = self.timeline_title.font()
        f.setPointSizeF(f.pointSizeF() + 2)
        f.setWeight(f.Weight.Bold)
        self.timeline_title.setFont(f)
        self.timeline_count = QLabel(head)
        self.timeline_count.setObjectName("muted")
        hl.addWidget(self.timeline_title)
        hl.addWidget(self.timeline_count, 1, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft)
        tl.addWidget(head)
        self.timeline_stack = QStackedWidget(timeline_box)
        self.timeline = QListView(self.timeline_stack)
        self.timeline.setObjectName("timeline")
        self.timeline.setModel(self.vm.timeline)
        self.post_delegate = PostDelegate(self.timeline)
        self.timeline.setItemDelegate(self.post_delegate)
        self.timeline.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.timeline.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.timeline.verticalScrollBar().setSingleStep(24)
        self.timeline.setResizeMode(QListView.ResizeMode.Adjust)
        self.timeline.setUniformItemSizes(False)
        # Card heights depend on the width; with word wrap on, QListView lays out again when the width
        # changes (without it a narrower viewport keeps stale heights and cards overlap).
        self.timeline.setWordWrap(True)
        self.timeline.setMouseTracking(True)
        self.timeline.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.timeline.setAccessibleName("Timeline")
        self.timeline.selectionModel().currentChanged.connect(self._timeline_current_changed)
        self.timeline.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.timeline.customContextMenuRequested.connect(self.open_timeline_menu)
        self.timeline_menu = QMenu(self.timeline)  # filled for the card that was right-clicked
        self.timeline_empty = QLabel(self.timeline_stack)
        self.timeline_empty.setObjectName("emptyState")
        self.timeline_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.timeline_empty.setWordWrap(True)
        self.timeline_stack.addWidget(self.timeline)
        self.timeline_stack.addWidget(self.timeline_empty)
        tl.addWidget(self.timeline_stack, 1)
        model = self.vm.timeline
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            sig.connect(self._timeline_rows_changed)
        model.modelReset.connect(self._timeline_reset)

        self.conversation = ConversationPane(self.vm, self.splitter)
        self.conversation.setMinimumWidth(380)
        self.conversation.focus_timeline.connect(lambda: self.timeline.setFocus())
        self.conversation.settled.connect(self._advance_after_settled)
        self._advance_from: int | None = None

        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(timeline_box)
        self.splitter.addWidget(self.conversation)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setStretchFactor(2, 6)
        self.splitter.setSizes([224, 560, 616])
        self.stack.addWidget(self.splitter)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)

    def _build_outbox_dock(self) -> None:
        self.outbox_panel = OutboxPanel(self.vm, self)
        dock = QDockWidget("Outbox", self)
        dock.setObjectName("outboxDock")
        dock.setWidget(self.outbox_panel)
        dock.setTitleBarWidget(self.outbox_panel.header)
        self.outbox_panel.hide_button.clicked.connect(dock.close)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        dock.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [180], Qt.Orientation.Vertical)
        self.outbox_dock = dock
        self._outbox_wanted = True
        self._placing_dock = False
        outbox = self.actions_by_name["outbox"]
        outbox.setChecked(True)
        outbox.triggered.connect(self._outbox_triggered)
        dock.visibilityChanged.connect(self._dock_visibility)

    def _outbox_triggered(self, checked: bool) -> None:
        self._outbox_wanted = checked
        self._place_dock()

    def _dock_visibility(self, visible: bool) -> None:
        # Only the dock's own close button counts as the user's wish; hiding it for the welcome page
        # or a minimised window does not.
        if self._placing_dock or not self.isVisible() or self.isMinimized():
            return
        self._outbox_wanted = visible
        self.actions_by_name["outbox"].setChecked(visible)

    def show_outbox(self) -> None:
        """Show the outbox panel."""
        self._outbox_wanted = True
        self.actions_by_name["outbox"].setChecked(True)
        self._place_dock()

    def _place_dock(self) -> None:
        self._placing_dock = True
        try:
            self.outbox_dock.setVisible(self._outbox_wanted and self.vm.has_accounts)
        finally:
            self._placing_dock = False

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.online_dot = StatusDot(sb)
        self.online_dot.set_state("online", "Online")
        self.sync_label = QLabel("Not synced yet", sb)
        self.sync_label.setObjectName("syncLabel")
        self.queued_button = QPushButton(sb)
        self.queued_button.setObjectName("queuedButton")
        self.queued_button.setFlat(True)
        self.queued_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.queued_button.setToolTip("Show the outbox")
        self.queued_button.clicked.connect(self.show_outbox)
        self.queued_button.setStyleSheet("QPushButton { border: none; padding: 0 8px; background: transparent; }")
        # Notices get their own label: QStatusBar.showMessage would hide the online indicator meanwhile.
        self.notice_label = QLabel(sb)
        self.notice_label.setObjectName("notice")
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice_label.clear)
        sb.addWidget(self.online_dot)
        sb.addWidget(self.sync_label)
        sb.addWidget(self.notice_label, 1)
        sb.addPermanentWidget(self.queued_button)
        self._status: StatusInfo | None = None

    def show_notice(self, message: str, ms: int = 6000) -> None:
        """A short message in the status bar (the online indicator stays visible)."""
        self.notice_label.setText(message)
        self._notice_timer.start(ms)

    def _apply_icons(self) -> None:
        c = theme.colors()
        a = self.actions_by_name
        a["urgent"].setIcon(icon("warning", c.urgent))
        a["sync"].setIcon(icon("sync", c.text))
        a["settings"].setIcon(icon("settings", c.text))
        a["help"].setIcon(icon("help", c.text))
        a["search"].setIcon(icon("search", c.text))
        a["outbox"].setIcon(icon("outbox", c.text))
        a["send"].setIcon(icon("send", c.text))
        a["done"].setIcon(icon("done", c.success))
        a["snooze"].setIcon(icon("snooze", c.text))
        a["ignore"].setIcon(icon("ignore", c.text))
        self._search_icon.setIcon(icon("search", c.muted))

    # -- view-model wiring ----------------------------------------------------------------------

    def _connect_vm(self) -> None:
        vm = self.vm
        vm.banner.connect(self._show_banner)
        vm.banner_cleared.connect(self.banner.clear)
        vm.status.connect(self._show_status)
        vm.notice.connect(self.show_notice)
        vm.accounts_changed.connect(self._accounts_changed)
        vm.online_changed.connect(self._online_changed)
        vm.demo_offline_changed.connect(lambda offline: self._set_demo_checked(not offline))
        vm.settings_changed.connect(self._settings_changed)
        vm.changed.connect(self._changed)
        vm.sync_started.connect(lambda: self._set_syncing(True))
        vm.sync_finished.connect(lambda _r: self._set_syncing(False))
        vm.runner.failed.connect(self._task_failed)

    def _task_failed(self, name: str, _exc: object) -> None:
        if name == "add-demo":
            self.welcome.reset()

    def _accounts_changed(self) -> None:
        has = self.vm.has_accounts
        self.stack.setCurrentWidget(self.splitter if has else self.welcome)
        for w in (self.search, self.urgent_button):
            w.setEnabled(has)
        self._demo_switch_action.setVisible(self.vm.has_demo)
        self.demo_action.setVisible(self.vm.has_demo)
        if self.vm.has_demo:
            self._set_demo_checked(not self.vm.demo_offline)
        self._place_dock()
        if has and not self.sidebar.selectionModel().hasSelection():
            self._sidebar_reset()
        if has and not self.search.hasFocus() and not self.conversation.composer.hasFocus():
            self.timeline.setFocus()  # so j / k and the other single keys work from the start
        self._update_title()

    def _show_banner(self, kind: str, message: str) -> None:
        action, label = "", ""
        tip = ""
        if kind == "offline" and self.vm.has_demo and self.vm.demo_offline:
            action, label = "go_online", "Go online"
        elif kind in ("offline", "error"):
            action, label = "retry", "Retry now"
        elif kind == "signed_out":
            action, label = "sign_in", "Sign in again"
            tip = "<br>".join(f"<b>{s.handle}</b>: {s.reason}" for s in self.vm.signed_out_accounts() if s.reason)
        self.banner.show_message(kind, message, action, label)
        self.banner.setToolTip(tip)

    def _banner_action(self, action: str) -> None:
        if action == "go_online":
            self._set_demo_checked(True)
            self.vm.set_demo_offline(False)
        elif action == "retry":
            self.vm.sync_now()
        elif action == "sign_in":
            self.sign_in_again()

    def _demo_toggled(self, online: bool) -> None:
        self.demo_switch.blockSignals(True)
        self.demo_switch.setChecked(online)
        self.demo_switch.blockSignals(False)
        if self.vm.has_demo and online == self.vm.demo_offline:
            self.vm.set_demo_offline(not online)

    def _set_demo_checked(self, online: bool) -> None:
        for w in (self.demo_action, self.demo_switch):
            w.blockSignals(True)
            w.setChecked(online)
            w.blockSignals(False)
        self.demo_switch.update()

    def _online_changed(self, online: bool) -> None:
        self._show_status(self._status)

    def _set_syncing(self, syncing: bool) -> None:
        self.actions_by_name["sync"].setText("Syncing…" if syncing else "Sync now")
        self._show_status(self._status)

    def _show_status(self, info: StatusInfo | None) -> None:
        if info is not None:
            self._status = info
        info = self._status
        vm = self.vm
        if vm.syncing:
            self.online_dot.set_state("syncing", "Syncing…")
        elif vm.online:
            self.online_dot.set_state("online", "Online")
        else:
            self.online_dot.set_state("offline", "Offline")
        if info is None:
            return
        last = info.last_sync
        self.sync_label.setText(f"Synced {ago(last)}" if last else "Not synced yet")
        now = datetime.now(UTC)
        lines = ["<b>Last sync per account</b>"]
        for a in info.accounts:
            state = f"<span style='color:{theme.colors().urgent_text.name()}'>{a.error}</span>" if a.error else "ok"
            lines.append(f"{a.handle} ({a.label}): {ago(a.last_sync, now)} · {state}")
        self.sync_label.setToolTip("<br>".join(lines))
        n = info.queued
        self.queued_button.setText(f"{plural(n, 'reply', 'replies')} queued" if n else "Outbox empty")
        self.queued_button.setIcon(icon("outbox", theme.colors().muted))

    def _tick(self) -> None:
        self._show_status(None)
        self.timeline.viewport().update()

    def _settings_changed(self, values: dict[str, object]) -> None:
        mode = str(values.get("theme", "system"))
        if mode != self._theme:
            self._theme = mode
            app = QApplication.instance()
            if isinstance(app, QApplication):
                theme.apply_theme(app, mode)
            self.restyle()
        self.show_notice("Settings saved.")

    def restyle(self) -> None:
        """Redraw everything that paints with theme colours."""
        self._apply_icons()
        self.conversation.restyle()
        if self.banner.isVisible():
            self.banner.show_message(self.banner.kind, self.banner.message.text(), *self._banner_button())
        for view in (self.timeline, self.sidebar):
            view.viewport().update()
        self.outbox_panel.table.viewport().update()
        for dialog in (self.health_panel, self.sign_in_dialog):
            if dialog is not None:
                dialog.restyle()
        self.update()

    def _banner_button(self) -> tuple[str, str]:
        b = self.banner.button
        actions = {"Go online": "go_online", "Sign in again": "sign_in"}
        return (actions.get(b.text(), "retry"), b.text()) if b.isVisible() else ("", "")

    def _changed(self, changes: Changes) -> None:
        if changes.new_posts or changes.updated_posts:
            self._update_title()
        post_id = self._advance_from
        if post_id is not None and post_id in changes.updated_posts:
            self._advance_from = None
            row = self.vm.timeline.row_of(post_id)
            # A post that left the list (done in Urgent) already handed the selection to the next one.
            if row is not None and self.timeline.currentIndex().row() == row:
                self.select_row(min(row + 1, self.vm.timeline.rowCount() - 1))

    def _advance_after_settled(self, post_id: int) -> None:
        """Done, snoozed or ignored: move on to the next post once the change has landed."""
        self._advance_from = post_id

    # -- sidebar and timeline -------------------------------------------------------------------

    def _sidebar_reset(self) -> None:
        self.sidebar.expandAll()
        idx = self.vm.sidebar.index_of_key(self._scope_key)
        if not idx.isValid():
            idx = self.vm.sidebar.index_of_key("all")
        if idx.isValid():
            self.sidebar.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _sidebar_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = self.vm.sidebar.entry(current)
        if entry is None:
            return
        self._scope_key = entry.key
        self.vm.set_scope(entry.filter)
        self._update_title()

    def select_scope(self, key: str) -> None:
        """Select a sidebar entry by key ("urgent", "net:demo", "acc:2")."""
        idx = self.vm.sidebar.index_of_key(key)
        if idx.isValid():
            self.sidebar.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _update_title(self) -> None:
        flt = self.vm.timeline.filter
        entry_idx = self.vm.sidebar.index_of_key(self._scope_key)
        entry = self.vm.sidebar.entry(entry_idx) if entry_idx.isValid() else None
        if entry is not None and entry.kind != "view":
            title = entry.label
            if flt.view == "urgent":
                title = f"Urgent · {title}"
        else:
            title = VIEW_TITLES.get(flt.view, flt.view.capitalize())
        if flt.search:
            title = f"“{flt.search}” in {title.lower() if entry is None or entry.kind == 'view' else title}"
        self.timeline_title.setText(title)
        if self.vm.has_accounts:
            n = self.vm.core.count(flt)
            self.timeline_count.setText(count_words(n, "post", COUNT_CAP))
        else:
            self.timeline_count.setText("")

    def _apply_search(self) -> None:
        self.vm.set_search(self.search.text())
        self._update_title()

    def _apply_search_now(self) -> None:
        self._search_timer.stop()
        self._apply_search()
        self.timeline.setFocus()
        if not self.timeline.currentIndex().isValid() and self.vm.timeline.rowCount() > 0:
            self.select_row(0)

    def _timeline_rows_changed(self, *_args: object) -> None:
        empty = self.vm.timeline.rowCount() == 0
        if empty:
            flt = self.vm.timeline.filter
            if flt.search:
                text = f"No posts match “{flt.search}”."
            elif not self.vm.syncs_done and self.vm.has_accounts:
                text = "Fetching mentions…"
            else:
                text = EMPTY_TEXT.get(flt.view, "No posts here yet.")
            self.timeline_empty.setText(text)
        self.timeline_stack.setCurrentWidget(self.timeline_empty if empty else self.timeline)

    def _timeline_reset(self) -> None:
        post_id = self.conversation.post_id
        if post_id is not None:
            idx = self.vm.timeline.index_of(post_id)
            if idx.isValid():
                self.timeline.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self._update_title()

    def _timeline_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        sel = self.timeline.selectionModel()
        if not sel.isSelected(current):
            # Qt moves the current index (unselected) when the current row is removed, e.g. a post
            # marked done in Urgent: selecting it lets the operator carry on with the next post.
            sel.select(current, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        post = self.vm.timeline.post_at(current.row())
        if post is not None and post.id != self.vm.conversation.post_id:
            self.vm.conversation.load(post.id)

    def select_row(self, row: int) -> None:
        """Select (and show) the post in ``row``."""
        model = self.vm.timeline
        if 0 <= row < model.rowCount():
            idx = model.index(row)
            self.timeline.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.timeline.scrollTo(idx)

    def select_post(self, post_id: int) -> bool:
        """Select a loaded post by id."""
        row = self.vm.timeline.row_of(post_id)
        if row is None:
            return False
        self.select_row(row)
        return True

    def select_first_urgent(self) -> bool:
        """Select the newest urgent post loaded (the screenshot shows it)."""
        for i, post in enumerate(self.vm.timeline.loaded()):
            if post.urgent and post.status in ("new", "open"):
                self.select_row(i)
                return True
        return False

    def move_selection(self, step: int) -> None:
        """Move to the next or previous post (j / k), loading the next page at the end."""
        model = self.vm.timeline
        current = self.timeline.currentIndex()
        row = current.row() + step if current.isValid() else 0
        if row >= model.rowCount() and model.canFetchMore(QModelIndex()):
            model.fetchMore(QModelIndex())
        row = max(0, min(row, model.rowCount() - 1))
        self.select_row(row)
        self.timeline.setFocus()

    def open_timeline_menu(self, pos: QPoint) -> QMenu | None:
        """Right-click on a card: select it and offer its actions, triage corrections included (a popup)."""
        idx = self.timeline.indexAt(pos)
        post = self.vm.timeline.post_at(idx.row()) if idx.isValid() else None
        if post is None:
            return None
        self.select_row(idx.row())
        menu = self.timeline_menu
        menu.clear()
        menu.addAction(icon("done", theme.colors().success), "Mark done", lambda: self.vm.set_status([post.id], "done"))
        menu.addAction("Snooze for 1 hour", lambda: self.vm.snooze([post.id], "1h"))
        menu.addAction("Ignore", lambda: self.vm.set_status([post.id], "ignored"))
        menu.addSeparator()
        for choice in correction_choices(post):
            action = menu.addAction(choice.label, lambda _checked=False, v=choice.verdict: self.vm.correct(post.id, v))
            action.setEnabled(choice.enabled)
        undo = menu.addAction("Undo correction", lambda: self.vm.undo_correction(post.id))
        undo.setEnabled(can_undo_correction(post))
        menu.popup(self.timeline.viewport().mapToGlobal(pos))
        return menu

    def focus_reply(self) -> None:
        """r: put the cursor in the reply box."""
        self.conversation.focus_composer()

    def focus_search(self) -> None:
        """/: search."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def conversation_send(self) -> None:
        """Ctrl+Enter: send the reply being written."""
        self.conversation.send()

    def eventFilter(self, watched: object, event: object) -> bool:
        # Escape in the search field hands the keyboard back to the list, as in the reply box.
        from PySide6.QtCore import QEvent
        from PySide6.QtGui import QKeyEvent

        if watched is self.search and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_Escape:
                if self.search.text():
                    self.search.clear()
                    self._apply_search_now()
                self.timeline.setFocus()
                return True
            if event.key() == Qt.Key.Key_Down:
                self.timeline.setFocus()
                if not self.timeline.currentIndex().isValid():
                    self.select_row(0)
                return True
        return super().eventFilter(watched, event)  # type: ignore[arg-type]

    # -- dialogs --------------------------------------------------------------------------------

    def open_help(self) -> None:
        """F1 / ?: the shortcut list (non-modal)."""
        if self.help_dialog is None:
            self.help_dialog = HelpDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()
        self.help_dialog.activateWindow()

    def open_settings(self) -> None:
        """The settings dialog, opened with ``open()`` (never a nested ``exec()``)."""
        dialog = SettingsDialog(self.vm.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.accepted.connect(lambda: self.vm.save_settings(dialog.values()))
        dialog.finished.connect(self._settings_closed)
        self.settings_dialog = dialog
        dialog.open()

    def _settings_closed(self, _result: int) -> None:
        self.settings_dialog = None

    def open_sign_in(self, network: str) -> None:
        """Add an account of ``network`` ("mastodon" or "bluesky")."""
        if network == "bluesky":
            self.open_bluesky_sign_in()
        else:
            self.open_mastodon_sign_in()

    def open_mastodon_sign_in(self, instance: str = "", handle: str = "") -> MastodonSignInDialog:
        """The Mastodon sign-in (pre-filled to sign ``handle`` on ``instance`` in again), opened with ``open()``."""
        dialog = MastodonSignInDialog(self.vm.accounts_vm.mastodon_flow(), self, instance=instance, handle=handle)
        self._show_sign_in(dialog)
        return dialog

    def open_bluesky_sign_in(self, pds: str = "", handle: str = "") -> BlueskySignInDialog:
        """The Bluesky sign-in (pre-filled to sign ``handle`` on ``pds`` in again), opened with ``open()``."""
        flow = self.vm.accounts_vm.bluesky_flow()
        dialog = BlueskySignInDialog(flow, self, pds=pds, handle=handle, again=bool(handle))
        self._show_sign_in(dialog)
        return dialog

    def _show_sign_in(self, dialog: MastodonSignInDialog | BlueskySignInDialog) -> None:
        old = self.sign_in_dialog
        if old is not None:
            old.reject()  # one sign-in at a time
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.finished.connect(lambda _result, d=dialog: self._sign_in_closed(d))
        self.sign_in_dialog = dialog
        dialog.open()

    def _sign_in_closed(self, dialog: QWidget) -> None:
        if self.sign_in_dialog is dialog:
            self.sign_in_dialog = None

    def sign_in_again(self, account_id: int | None = None) -> None:
        """Sign a signed-out account in again (the first one when none is named), pre-filled."""
        if account_id is None:
            out = self.vm.signed_out_accounts()
            account_id = out[0].account_id if out else 0
        target = self.vm.accounts_vm.sign_in_target(account_id) if account_id else None
        if target is None or target.network not in ("mastodon", "bluesky"):
            self.open_health()  # nothing to fill in: the panel says what is wrong
        elif target.network == "mastodon":
            self.open_mastodon_sign_in(target.server_url, target.handle)
        else:
            self.open_bluesky_sign_in(target.server_url, target.handle)

    def open_health(self) -> None:
        """The account health panel (not modal: it stays open beside the window)."""
        if self.health_panel is None:
            panel = HealthPanel(self.vm.accounts_vm, self)
            panel.sign_in_requested.connect(self.sign_in_again)
            panel.add_requested.connect(self.open_sign_in)
            self.health_panel = panel
        self.health_panel.show()
        self.health_panel.raise_()
        self.health_panel.activateWindow()

    # -- closing --------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._sized:
            # Share the first width sensibly: the sidebar narrow, the rest between list and pane.
            width = max(self.splitter.width(), self.width())
            side = 224 if width >= 1280 else 180
            rest = width - side
            self.splitter.setSizes([side, int(rest * 0.46), rest - int(rest * 0.46)])
            self.resizeDocks([self.outbox_dock], [180 if self.height() >= 820 else 130], Qt.Orientation.Vertical)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._sized = True
        if self.vm.has_accounts and QApplication.focusWidget() in (None, self.search):
            self.timeline.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:
        for dialog in (self.sign_in_dialog, self.health_panel):
            if dialog is not None:
                dialog.close()  # a sign-in stops its listener; the panel stops following syncs
        self.vm.runner.cancel_all()
        self.vm.conversation.runner.cancel_all()
        self._clock.stop()
        event.accept()
        self.closed.emit()
