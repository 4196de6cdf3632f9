"""Widgets, windows, dialogs, delegates and the theme: everything a person sees."""
