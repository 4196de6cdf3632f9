"""What Parley's item models share: the index type Qt hands them and the flags of a plain selectable row."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

#: The index Qt passes to a model's methods (views may hand either kind).
AnyIndex = QModelIndex | QPersistentModelIndex

#: A row that can be selected and has no children (the models are flat lists and tables).
ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


def row_flags(index: AnyIndex) -> Qt.ItemFlag:
    """``ROW_FLAGS`` for a row, none for the invalid index (the root)."""
    return ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags
