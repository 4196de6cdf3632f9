"""Themes: Fusion with a light or dark palette, semantic colours derived from it, and the app's style sheet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")

_LIGHT = {
    "window": "#f2f3f5",
    "base": "#ffffff",
    "alt": "#f7f8fa",
    "text": "#1c2024",
    "button": "#ffffff",
    "highlight": "#2563eb",
    "link": "#1d4ed8",
    "tooltip": "#1c2024",
    "tooltip_text": "#ffffff",
    "urgent": "#c5221f",
    "warning": "#9a5b00",
    "success": "#1a7f37",
}
_DARK = {
    "window": "#16181c",
    "base": "#1f2227",
    "alt": "#24282e",
    "text": "#e4e6ea",
    "button": "#2a2e35",
    "highlight": "#3b82f6",
    "link": "#7aa7ff",
    "tooltip": "#2a2e35",
    "tooltip_text": "#e4e6ea",
    "urgent": "#ff6b63",
    "warning": "#e3a93b",
    "success": "#4cc26a",
}


# -- colour arithmetic ----------------------------------------------------------------------------


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved toward ``b`` by ``t`` (0 keeps a, 1 gives b)."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
        1.0,
    )


def luminance(c: QColor) -> float:
    """WCAG relative luminance."""

    def ch(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio (1 to 21)."""
    la, lb = luminance(a), luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def readable(fg: QColor, bg: QColor, ratio: float = 4.5) -> QColor:
    """``fg`` darkened or lightened (keeping its hue) until it reaches ``ratio`` against ``bg``."""
    target = QColor("#000000") if luminance(bg) > 0.18 else QColor("#ffffff")
    c = QColor(fg)
    step = 0
    while contrast(c, bg) < ratio and step < 20:
        c = mix(c, target, 0.1)
        step += 1
    return c


def is_dark(palette: QPalette) -> bool:
    """Whether a palette is a dark one."""
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


# -- semantic colours -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Colors:
    """Every colour the custom painting uses, derived from one palette so both themes stay readable."""

    dark: bool
    window: QColor
    base: QColor
    text: QColor
    muted: QColor
    faint: QColor
    border: QColor
    card: QColor
    card_hover: QColor
    accent: QColor
    accent_soft: QColor
    accent_text: QColor
    on_accent: QColor
    urgent: QColor
    urgent_text: QColor
    urgent_card: QColor
    urgent_chip: QColor
    urgent_chip_text: QColor
    urgent_chip_border: QColor
    on_urgent: QColor
    warning: QColor
    warning_soft: QColor
    warning_text: QColor
    success: QColor
    success_soft: QColor
    success_text: QColor
    neutral_chip: QColor
    ours: QColor
    ours_border: QColor

    @classmethod
    def from_palette(cls, palette: QPalette) -> Colors:
        """Derive the colours from ``palette`` (checked for contrast against the surfaces they sit on)."""
        dark = is_dark(palette)
        table = _DARK if dark else _LIGHT
        base = palette.color(QPalette.ColorRole.Base)
        window = palette.color(QPalette.ColorRole.Window)
        text = palette.color(QPalette.ColorRole.Text)
        accent = palette.color(QPalette.ColorRole.Highlight)
        card = base
        urgent = QColor(table["urgent"])
        warning = QColor(table["warning"])
        success = QColor(table["success"])
        urgent_card = mix(card, urgent, 0.07 if dark else 0.045)
        urgent_chip = mix(card, urgent, 0.2 if dark else 0.11)
        warning_soft = mix(card, warning, 0.18 if dark else 0.13)
        success_soft = mix(card, success, 0.18 if dark else 0.12)
        accent_soft = mix(card, accent, 0.22 if dark else 0.11)
        on_urgent = QColor("#ffffff")
        solid_urgent = urgent if contrast(on_urgent, urgent) >= 4.5 else readable(urgent, on_urgent, 4.5)
        return cls(
            dark=dark,
            window=window,
            base=base,
            text=text,
            muted=readable(mix(text, base, 0.42), base, 4.5),
            faint=mix(text, base, 0.62),
            border=mix(text, base, 0.86 if dark else 0.88),
            card=card,
            card_hover=mix(card, text, 0.035),
            accent=accent,
            accent_soft=accent_soft,
            accent_text=readable(accent, accent_soft, 4.5),
            on_accent=QColor("#ffffff"),
            urgent=solid_urgent,
            urgent_text=readable(urgent, urgent_card, 4.5),
            urgent_card=urgent_card,
            urgent_chip=urgent_chip,
            urgent_chip_text=readable(urgent, urgent_chip, 4.5),
            urgent_chip_border=mix(card, urgent, 0.35),
            on_urgent=on_urgent,
            warning=warning,
            warning_soft=warning_soft,
            warning_text=readable(warning, warning_soft, 4.5),
            success=success,
            success_soft=success_soft,
            success_text=readable(success, success_soft, 4.5),
            neutral_chip=mix(card, text, 0.08),
            ours=accent_soft,
            ours_border=mix(card, accent, 0.35),
        )


_colors: Colors | None = None
_mode = "system"


def colors() -> Colors:
    """The colours of the theme in use."""
    global _colors
    if _colors is None:
        app = QGuiApplication.instance()
        palette = app.palette() if isinstance(app, QGuiApplication) else light_palette()
        _colors = Colors.from_palette(palette)
    return _colors


def current_mode() -> str:
    """The theme setting in use: system, light or dark."""
    return _mode


# -- palettes -------------------------------------------------------------------------------------


def _palette(t: dict[str, str]) -> QPalette:
    p = QPalette()
    text = QColor(t["text"])
    base = QColor(t["base"])
    window = QColor(t["window"])
    button = QColor(t["button"])
    role = QPalette.ColorRole
    p.setColor(role.Window, window)
    p.setColor(role.WindowText, text)
    p.setColor(role.Base, base)
    p.setColor(role.AlternateBase, QColor(t["alt"]))
    p.setColor(role.Text, text)
    p.setColor(role.Button, button)
    p.setColor(role.ButtonText, text)
    p.setColor(role.BrightText, QColor("#ffffff"))
    p.setColor(role.Highlight, QColor(t["highlight"]))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    p.setColor(role.Link, QColor(t["link"]))
    p.setColor(role.LinkVisited, QColor(t["link"]))
    p.setColor(role.ToolTipBase, QColor(t["tooltip"]))
    p.setColor(role.ToolTipText, QColor(t["tooltip_text"]))
    p.setColor(role.PlaceholderText, readable(mix(text, base, 0.5), base, 3.0))
    p.setColor(role.Light, mix(button, QColor("#ffffff"), 0.5))
    p.setColor(role.Midlight, mix(button, text, 0.08))
    p.setColor(role.Mid, mix(button, text, 0.25))
    p.setColor(role.Dark, mix(button, text, 0.45))
    p.setColor(role.Shadow, QColor(0, 0, 0))
    disabled = mix(text, base, 0.55)
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, disabled)
    p.setColor(QPalette.ColorGroup.Disabled, role.Highlight, mix(QColor(t["highlight"]), base, 0.5))
    return p


def light_palette() -> QPalette:
    """Parley's light palette."""
    return _palette(_LIGHT)


def dark_palette() -> QPalette:
    """Parley's dark palette."""
    return _palette(_DARK)


def system_is_dark(app: QGuiApplication) -> bool:
    """Whether the desktop asks for dark colours (unknown counts as light)."""
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def resolve(mode: str, app: QGuiApplication) -> str:
    """The palette a theme setting means: "light" or "dark"."""
    if mode in ("light", "dark"):
        return mode
    return "dark" if system_is_dark(app) else "light"


def apply_theme(app: QApplication, mode: str = "system") -> Colors:
    """Use Fusion with the palette for ``mode`` (system, light or dark) and the matching style sheet."""
    global _colors, _mode
    _mode = mode if mode in THEMES else "system"
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):  # Qt 6.8+: tells the platform too (title bars, native dialogs)
        scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(_mode, Qt.ColorScheme.Unknown)
        hints.setColorScheme(scheme)
    style = QStyleFactory.create("Fusion")
    if style is not None and app.style().name().lower() != "fusion":
        app.setStyle(style)
    palette = dark_palette() if resolve(_mode, app) == "dark" else light_palette()
    app.setPalette(palette)
    _colors = Colors.from_palette(palette)
    app.setStyleSheet(style_sheet(_colors))
    return _colors


def follow_system(app: QApplication, restyle: Callable[[], None]) -> None:
    """While the theme setting is "system", switch palettes when the desktop switches light and dark."""

    def changed(_scheme: Qt.ColorScheme) -> None:
        if _mode != "system":
            return
        want_dark = system_is_dark(app)
        if want_dark != colors().dark:
            apply_theme(app, "system")
            restyle()

    app.styleHints().colorSchemeChanged.connect(changed)


def base_font() -> QFont:
    """The UI font: the platform's, at a comfortable size for dense lists."""
    font = QGuiApplication.font()
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
    return font


def _hex(c: QColor) -> str:
    return c.name(QColor.NameFormat.HexRgb)


def style_sheet(c: Colors) -> str:
    """The app's style sheet, built from the theme's colours."""
    hover = _hex(mix(c.base, c.text, 0.06))
    pressed = _hex(mix(c.base, c.text, 0.12))
    primary_hover = _hex(mix(c.accent, QColor("#000000" if not c.dark else "#ffffff"), 0.12))
    disabled_primary = _hex(mix(c.accent, c.base, 0.72 if c.dark else 0.55))
    disabled_primary_text = _hex(mix(c.on_accent, c.base, 0.45 if c.dark else 0.0))
    return f"""
QMainWindow, QDialog {{ background: {_hex(c.window)}; }}
QToolBar#mainToolbar {{
    background: {_hex(c.base)}; border: none; border-bottom: 1px solid {_hex(c.border)};
    padding: 6px 10px; spacing: 6px;
}}
QToolBar#mainToolbar QToolButton {{
    padding: 5px 9px; border-radius: 6px; border: 1px solid transparent; color: {_hex(c.text)};
}}
QToolBar#mainToolbar QToolButton:hover {{ background: {hover}; }}
QToolBar#mainToolbar QToolButton:pressed {{ background: {pressed}; }}
QToolBar#mainToolbar QToolButton:checked {{
    background: {_hex(c.urgent_chip)}; color: {_hex(c.urgent_chip_text)};
    border: 1px solid {_hex(c.urgent_chip_border)};
}}
QLabel#appTitle {{ font-weight: 700; font-size: 15px; padding: 0 10px 0 2px; color: {_hex(c.text)}; }}
QLineEdit#search {{
    background: {_hex(c.window)}; border: 1px solid {_hex(c.border)}; border-radius: 7px;
    padding: 5px 8px; min-width: 300px; color: {_hex(c.text)};
}}
QLineEdit#search:focus {{ border: 1px solid {_hex(c.accent)}; background: {_hex(c.base)}; }}
QTreeView#sidebar {{ background: {_hex(c.window)}; border: none; outline: 0; }}
QListView#timeline {{ background: {_hex(c.window)}; border: none; outline: 0; }}
QWidget#conversationPane {{ background: {_hex(c.base)}; }}
QScrollArea#thread {{ background: {_hex(c.base)}; border: none; }}
QWidget#threadBody {{ background: {_hex(c.base)}; }}
QWidget#composerBox {{ background: {_hex(c.base)}; border-top: 1px solid {_hex(c.border)}; }}
QLabel#muted {{ color: {_hex(c.muted)}; }}
QLabel#sectionTitle {{ color: {_hex(c.muted)}; font-weight: 600; }}
QLabel#counter {{ color: {_hex(c.muted)}; }}
QLabel#counter[over="true"] {{ color: {_hex(c.urgent_text)}; font-weight: 700; }}
QLabel#emptyState {{ color: {_hex(c.muted)}; font-size: 14px; }}
QPlainTextEdit#composer {{
    background: {_hex(c.base)}; border: 1px solid {_hex(c.border)}; border-radius: 8px; padding: 6px;
    color: {_hex(c.text)};
}}
QPlainTextEdit#composer:focus {{ border: 1px solid {_hex(c.accent)}; }}
QPlainTextEdit#composer[over="true"] {{ border: 1px solid {_hex(c.urgent)}; }}
QPushButton {{
    background: {_hex(c.base)}; color: {_hex(c.text)}; border: 1px solid {_hex(c.border)};
    border-radius: 6px; padding: 5px 12px; min-height: 18px;
}}
QPushButton:hover {{ background: {hover}; }}
QPushButton:pressed {{ background: {pressed}; }}
QPushButton:disabled {{ color: {_hex(c.faint)}; }}
QPushButton::menu-indicator {{ subcontrol-position: right center; right: 6px; }}
QPushButton#snooze {{ padding-right: 22px; }}
QPushButton#primary {{
    background: {_hex(c.accent)}; color: {_hex(c.on_accent)}; border: 1px solid {_hex(c.accent)}; font-weight: 600;
    padding: 5px 16px;
}}
QPushButton#primary:hover {{ background: {primary_hover}; }}
QPushButton#primary:disabled {{
    background: {disabled_primary}; border-color: {disabled_primary}; color: {disabled_primary_text};
}}
QPushButton#danger {{ color: {_hex(c.urgent_text)}; }}
QPushButton#danger:disabled {{ color: {_hex(c.faint)}; }}
QSplitter::handle {{ background: {_hex(c.border)}; }}
QStatusBar {{ background: {_hex(c.base)}; border-top: 1px solid {_hex(c.border)}; color: {_hex(c.muted)}; }}
QStatusBar QLabel {{ color: {_hex(c.muted)}; padding: 0 6px; }}
QStatusBar::item {{ border: none; }}
QDockWidget {{ color: {_hex(c.text)}; }}
QDockWidget::title {{
    background: {_hex(c.window)}; padding: 6px 10px; border-top: 1px solid {_hex(c.border)};
}}
QWidget#outboxPanel {{ background: {_hex(c.base)}; }}
QWidget#outboxHeader {{ background: {_hex(c.window)}; border-top: 1px solid {_hex(c.border)}; }}
QWidget#outboxHeader QPushButton {{ padding: 3px 10px; }}
QLabel#notice {{ color: {_hex(c.text)}; padding-left: 12px; }}
QTableView#outboxTable {{
    background: {_hex(c.base)}; border: none; gridline-color: transparent;
    selection-background-color: {_hex(c.accent_soft)}; selection-color: {_hex(c.text)};
    alternate-background-color: {_hex(mix(c.base, c.text, 0.02))};
}}
QHeaderView::section {{
    background: {_hex(c.base)}; color: {_hex(c.muted)}; border: none; border-bottom: 1px solid {_hex(c.border)};
    padding: 4px 8px; font-weight: 600;
}}
QFrame#welcomeCard {{ background: {_hex(c.base)}; border: 1px solid {_hex(c.border)}; border-radius: 12px; }}
QLabel#welcomeTitle {{ font-size: 24px; font-weight: 700; color: {_hex(c.text)}; }}
QLabel#welcomeLead {{ font-size: 14px; color: {_hex(c.muted)}; }}
QLabel#commands {{
    background: {_hex(c.window)}; border: 1px solid {_hex(c.border)}; border-radius: 6px; padding: 8px 10px;
    color: {_hex(c.text)};
}}
QPushButton#bigPrimary {{
    background: {_hex(c.accent)}; color: {_hex(c.on_accent)}; border: none; border-radius: 8px;
    padding: 10px 20px; font-size: 14px; font-weight: 600;
}}
QPushButton#bigPrimary:hover {{ background: {primary_hover}; }}
QMenu {{ background: {_hex(c.base)}; color: {_hex(c.text)}; border: 1px solid {_hex(c.border)}; padding: 4px; }}
QMenu::item {{ padding: 5px 22px 5px 14px; border-radius: 4px; }}
QMenu::item:selected {{ background: {_hex(c.accent_soft)}; color: {_hex(c.text)}; }}
QMenu::separator {{ height: 1px; background: {_hex(c.border)}; margin: 4px 6px; }}
QToolTip {{ padding: 4px 6px; }}
QScrollBar:vertical {{ background: transparent; width: 11px; margin: 2px 2px 2px 1px; }}
QScrollBar:horizontal {{ background: transparent; height: 11px; margin: 1px 2px 2px 2px; }}
QScrollBar::handle {{ background: {_hex(mix(c.window, c.text, 0.28))}; border-radius: 4px; }}
QScrollBar::handle:hover {{ background: {_hex(mix(c.window, c.text, 0.42))}; }}
QScrollBar::handle:vertical {{ min-height: 32px; }}
QScrollBar::handle:horizontal {{ min-width: 32px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; border: none; background: none; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
"""
