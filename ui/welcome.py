"""The welcome page shown while there is no account: open the demo inbox, or sign in to Mastodon or Bluesky."""

from __future__ import annotations

import shlex

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ui.widgets import section_label

#: How signing in works, said before anyone clicks.
SIGN_IN_NOTE = (
    "Mastodon signs in through your browser, Bluesky with an app password; Parley keeps only the token or "
    "session the network hands out, never a password. Without a browser, the command line adds accounts too:"
)


def sign_in_commands(data_dir: str) -> str:
    """The commands that add real accounts to this data dir (the secret is read from stdin, never an argument)."""
    where = f" --data-dir {shlex.quote(data_dir)}" if data_dir else ""
    return (
        f"python main.py{where} accounts add mastodon --instance https://your.server\n"
        f"python main.py{where} accounts add bluesky --pds https://bsky.social --handle you.bsky.social "
        "--password-stdin"
    )


class WelcomePage(QWidget):
    """A centred card with what a new user can do: open the demo inbox, or sign in to a network."""

    demo_requested = Signal()
    sign_in_requested = Signal(str)  # "mastodon" | "bluesky"

    def __init__(self, data_dir: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePage")
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        card = QFrame(self)
        card.setObjectName("welcomeCard")
        card.setMaximumWidth(600)
        card.setMinimumWidth(460)
        lay = QVBoxLayout(card)
        lay.setContentsMargins(36, 32, 36, 30)
        lay.setSpacing(12)
        title = QLabel("Welcome to Parley", card)
        title.setObjectName("welcomeTitle")
        lead = QLabel(
            "One inbox for every mention of your brand: urgent complaints first, with the reasons shown, "
            "and replies that are never lost or sent twice, even on a bad connection.",
            card,
        )
        lead.setObjectName("welcomeLead")
        lead.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(lead)
        lay.addSpacing(10)
        self.demo_button = QPushButton("Open the demo inbox", card)
        self.demo_button.setObjectName("bigPrimary")
        self.demo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.demo_button.clicked.connect(self._demo)
        lay.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignLeft)
        demo_note = QLabel(
            "A simulated community with three brand accounts: complaints, praise, questions and spam in "
            "several languages, with new mentions arriving while you work.",
            card,
        )
        demo_note.setObjectName("muted")
        demo_note.setWordWrap(True)
        lay.addWidget(demo_note)
        lay.addSpacing(14)
        lay.addWidget(section_label("Add an account", card))
        networks = QHBoxLayout()
        networks.setSpacing(8)
        self.network_buttons: list[QPushButton] = []
        tips = {
            "mastodon": "Sign in through the browser to any Mastodon server",
            "bluesky": "Sign in with an app password to bsky.social or your own server",
        }
        for key, name in (("mastodon", "Mastodon"), ("bluesky", "Bluesky")):
            b = QPushButton(f"Sign in to {name}…", card)
            b.setObjectName(f"signIn_{key}")
            b.setToolTip(tips[key])
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            b.clicked.connect(lambda _checked=False, k=key: self.sign_in_requested.emit(k))
            networks.addWidget(b)
            self.network_buttons.append(b)
        networks.addStretch(1)
        lay.addLayout(networks)
        self.note = QLabel(SIGN_IN_NOTE, card)
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        self.commands = QLabel(sign_in_commands(data_dir), card)
        self.commands.setObjectName("commands")
        self.commands.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.commands.setWordWrap(True)
        mono = self.commands.font()
        mono.setFamily("monospace")
        mono.setStyleHint(mono.StyleHint.Monospace)
        mono.setPointSizeF(max(7.5, mono.pointSizeF() - 1))
        self.commands.setFont(mono)
        lay.addWidget(self.commands)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def _demo(self) -> None:
        self.demo_button.setEnabled(False)
        self.demo_button.setText("Opening the demo inbox…")
        self.demo_requested.emit()

    def reset(self) -> None:
        """Ready for another click (the demo could not be opened)."""
        self.demo_button.setEnabled(True)
        self.demo_button.setText("Open the demo inbox")
