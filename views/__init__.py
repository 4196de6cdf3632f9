"""Qt view-models and item models: QtCore and QtGui only; widgets live in ui/."""
