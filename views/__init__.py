"""Qt view-models and item models: QtCore and QtGui only, never QtWidgets."""
