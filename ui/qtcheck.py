"""Can Qt open a window here? ``python -m ui.qtcheck`` says so, or names exactly what to install or run.

Exit status 0 when a QGuiApplication starts, 1 otherwise (with one message on stderr).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PROBE_TIMEOUT = 20.0

#: Libraries Qt's xcb platform plugin loads, and the Debian/Ubuntu packages that ship them.
XCB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}

#: Platforms that need no display server.
HEADLESS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")

PROBE = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(sys.argv[:1])\n"
    "print('qt-ok', app.platformName())\n"
)


def no_display_message() -> str:
    """What to do when there is no display at all."""
    return (
        "Parley needs a display, and this session has none (neither DISPLAY nor WAYLAND_DISPLAY is set): "
        "use xvfb-run -a make run, or run on a desktop."
    )


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names ``ldd`` reports as "not found"."""
    return sorted({m.group(1) for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", ldd_output, re.MULTILINE)})


def packages_for(libraries: list[str]) -> tuple[list[str], list[str]]:
    """(Debian packages to install, libraries no package is known for)."""
    packages: list[str] = []
    unknown: list[str] = []
    for lib in libraries:
        pkg = XCB_PACKAGES.get(lib)
        if pkg is None:
            unknown.append(lib)
        elif pkg not in packages:
            packages.append(pkg)
    return packages, unknown


def install_line(packages: list[str]) -> str:
    """The exact command that installs ``packages``."""
    return "sudo apt-get install -y " + " ".join(packages)


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, if this PySide6 ships one."""
    try:
        import PySide6
    except ImportError:
        return None
    path = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def ldd(path: Path) -> str:
    """``ldd`` of a library ("" when ldd is not there)."""
    try:
        return subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def probe(env: Mapping[str, str] | None = None, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Start a QGuiApplication in a child Python; (worked, what it printed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
        )
    except subprocess.TimeoutExpired:
        return False, f"Qt did not start within {timeout:.0f} seconds (is the display server answering?)"
    out = (done.stdout + done.stderr).strip()
    return done.returncode == 0 and "qt-ok" in done.stdout, out


def diagnose(env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """(fine, message): whether Qt can open a window, and if not, what to do about it."""
    env = os.environ if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform in HEADLESS:
        ok, out = probe(env)
        return ok, "" if ok else f"Qt cannot start on the {platform} platform: {_last_line(out)}"
    if sys.platform.startswith("linux") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return False, no_display_message()
    ok, out = probe(env)
    if ok:
        return True, ""
    if sys.platform.startswith("linux"):
        plugin = xcb_plugin()
        if plugin is not None:
            packages, unknown = packages_for(missing_libraries(ldd(plugin)))
            if packages:
                extra = f" (also missing, package unknown: {', '.join(unknown)})" if unknown else ""
                return False, (
                    "Qt cannot open a window because libraries of its xcb plugin are missing"
                    f"{extra}. Install them with:\n    {install_line(packages)}"
                )
            if unknown:
                return False, f"Qt's xcb plugin is missing these libraries: {', '.join(unknown)}."
    return False, (
        f"Qt cannot open a window: {_last_line(out)}\n"
        "Run with QT_DEBUG_PLUGINS=1 for details, or try xvfb-run -a make run."
    )


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def main() -> int:
    """Print one clear message when Qt cannot open a window; exit 0 when it can."""
    ok, message = diagnose()
    if not ok:
        print(f"parley: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
